"""PostgreSQL: the audit chain's head is read and extended by one server-side function.

Revision ID: data_0005
Revises: data_0004
Create Date: 2026-11-22

Written by hand; `storage.audit.append` calls it on PostgreSQL. Before, an append took the
chain's advisory lock, read the head, hashed the event in Python and inserted it: three round
trips with the lock held, each waiting for the client's next step. A forwarding worker's
threads contend for the GIL, so each step waited for a switch too, and the lock, held until
commit, was held about 9 ms per append (median, measured under the pipeline benchmark);
concurrent workers queued behind it. The function does the same three steps in one call, with
no client step between them.

The hash is the one `storage.audit.event_hash` defines: SHA-256 over the previous hash and the
event's canonical JSON. The client sends that JSON as two byte strings around the id, which
only the function knows; `storage.audit` builds both from the same parts as `event_hash`, and
a test holds the function's hash equal to it.

Each statement of a VOLATILE PL/pgSQL function takes a new snapshot under READ COMMITTED, so
the head is read after the lock is granted and sees the previous holder's committed event.
SQLite has no functions of this kind and keeps appending from Python under its write lock.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "data_0005"
down_revision: str | Sequence[str] | None = "data_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The lock key, 31373883368302964, is storage.audit._CHAIN_LOCK_KEY (0x6F766175646974,
# "ovaudit" in ASCII), copied rather than imported: a migration must keep meaning what it meant
# when it was written. A test holds the function to that key.
_CREATE = """
CREATE FUNCTION ordervault_audit_append(
    p_occurred_at TIMESTAMP WITH TIME ZONE,
    p_actor VARCHAR,
    p_action VARCHAR,
    p_client_id VARCHAR,
    p_subject TEXT,
    p_details TEXT,
    p_body_before_id BYTEA,
    p_body_after_id BYTEA
)
RETURNS TABLE (event_id BIGINT, event_prev_hash VARCHAR, event_hash VARCHAR)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    head_id BIGINT;
    head_hash VARCHAR;
BEGIN
    PERFORM pg_advisory_xact_lock(31373883368302964);
    SELECT e.id, e.hash INTO head_id, head_hash
        FROM audit_events AS e ORDER BY e.id DESC LIMIT 1;
    IF NOT FOUND THEN
        head_id := 0;
        head_hash := repeat('0', 64);
    END IF;
    event_id := head_id + 1;
    event_prev_hash := head_hash;
    event_hash := encode(
        sha256(
            convert_to(head_hash, 'UTF8') || p_body_before_id
            || convert_to(event_id::TEXT, 'UTF8') || p_body_after_id
        ),
        'hex'
    );
    INSERT INTO audit_events
        (id, occurred_at, actor, action, client_id, subject, details, prev_hash, hash)
    VALUES (
        event_id, p_occurred_at, p_actor, p_action, p_client_id,
        CAST(p_subject AS JSON), CAST(p_details AS JSON), event_prev_hash, event_hash
    );
    RETURN NEXT;
END;
$$
"""

_SIGNATURE = (
    "ordervault_audit_append(TIMESTAMP WITH TIME ZONE, VARCHAR, VARCHAR, VARCHAR, TEXT, TEXT,"
    " BYTEA, BYTEA)"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute(_CREATE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute(f"DROP FUNCTION {_SIGNATURE}")
