"""The key sections, read from the key store (a database of its own) and the shred events."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from pipeline.report.model import Count, DestroyedKey, KeysSection, RootRotation
from pipeline.report.scope import Scope
from storage.keystore_models import BucketKey, IndexKey
from storage.keystore_models import RootRotation as RootRotationRow
from storage.models import AuditEvent

__all__ = ["ALGORITHMS", "active_buckets", "keys_section"]

# What the crypto package uses (see crypto/__init__.py); the root wrap depends on the provider.
ALGORITHMS = {
    "pii": "AES-256-GCM (per-order 256-bit data key, CSPRNG)",
    "data_key_wrap": "AES-256-GCM under the bucket key (256-bit, CSPRNG)",
    "blind_index": "HMAC-SHA256 under a per-client index key",
    "key_commitment": "HMAC-SHA256 under the destroyed key",
}
_ROOT_WRAP = {
    "local": "AES-256-GCM under a local 256-bit root key file (mode 0600)",
    "aws-kms": "AWS KMS Encrypt/Decrypt (SYMMETRIC_DEFAULT, AES-256-GCM in the KMS HSMs)",
}


def active_buckets(keystore: Session, scope: Scope) -> set[tuple[str, date]]:
    rows = keystore.execute(
        sa.select(BucketKey.client_id, BucketKey.day).where(
            BucketKey.state == "active", scope.where_client(BucketKey.client_id)
        )
    )
    return {(client_id, day) for client_id, day in rows}


def _shred_details(data: Session, scope: Scope) -> dict[str, list[Mapping[str, Any]]]:
    """key_id -> details of its `shred` events (the order counts `pipeline.retention` wrote)."""
    events = data.execute(
        sa.select(AuditEvent.subject, AuditEvent.details).where(
            AuditEvent.action == "shred",
            scope.where_client(AuditEvent.client_id),
            AuditEvent.occurred_at >= scope.starts_at,
        )
    )
    found: dict[str, list[Mapping[str, Any]]] = {}
    for subject, details in events:
        key_id = subject.get("key_id")
        if isinstance(key_id, str):
            found.setdefault(key_id, []).append(details)
    return found


def _count_state(keystore: Session, scope: Scope, state: str) -> int:
    return int(
        keystore.scalar(
            sa.select(sa.func.count())
            .select_from(BucketKey)
            .where(BucketKey.state == state, scope.where_client(BucketKey.client_id))
        )
        or 0
    )


def keys_section(keystore: Session, data: Session, scope: Scope, provider: str) -> KeysSection:
    destroyed_rows = keystore.scalars(
        sa.select(BucketKey)
        .where(
            BucketKey.state == "destroyed",
            scope.where_client(BucketKey.client_id),
            scope.in_period(BucketKey.destroyed_at),
        )
        .order_by(BucketKey.destroyed_at, BucketKey.client_id, BucketKey.day)
    ).all()
    shreds = _shred_details(data, scope)
    destroyed: list[DestroyedKey] = []
    for row in destroyed_rows:
        assert row.destroyed_at is not None
        details = shreds.get(row.key_id, [])
        reasons = sorted({str(d.get("reason")) for d in details if d.get("reason")})
        destroyed.append(
            DestroyedKey(
                client_id=row.client_id,
                day=row.day,
                key_id=row.key_id,
                commitment=row.commitment or None,
                destroyed_at=row.destroyed_at,
                orders=sum(int(d.get("orders", 0)) for d in details),
                reason=", ".join(reasons) or None,
            )
        )
    per_day = dict.fromkeys(scope.days(), 0)
    for key in destroyed:
        day = key.destroyed_at.date()
        per_day[day] = per_day.get(day, 0) + 1
    next_day = keystore.scalar(
        sa.select(sa.func.min(BucketKey.day)).where(
            BucketKey.state == "active", scope.where_client(BucketKey.client_id)
        )
    )
    root_ids = sorted(
        set(
            keystore.scalars(
                sa.select(BucketKey.root_key_id)
                .where(BucketKey.state == "active", scope.where_client(BucketKey.client_id))
                .distinct()
            )
        )
        | set(
            keystore.scalars(
                sa.select(IndexKey.root_key_id)
                .where(scope.where_client(IndexKey.client_id))
                .distinct()
            )
        )
    )
    rotations = keystore.scalars(sa.select(RootRotationRow).order_by(RootRotationRow.id)).all()
    return KeysSection(
        active=_count_state(keystore, scope, "active"),
        destroyed=_count_state(keystore, scope, "destroyed"),
        index_keys=int(
            keystore.scalar(
                sa.select(sa.func.count())
                .select_from(IndexKey)
                .where(scope.where_client(IndexKey.client_id))
            )
            or 0
        ),
        destroyed_in_period=destroyed,
        destroyed_per_day=[Count(day.isoformat(), n) for day, n in sorted(per_day.items())],
        next_destruction_day=next_day,
        root_provider=provider,
        root_key_ids=root_ids,
        rotations=[
            RootRotation(
                started_at=r.started_at,
                finished_at=r.finished_at,
                from_root_key_id=r.from_root_key_id,
                to_root_key_id=r.to_root_key_id,
                state=r.state,
            )
            for r in rotations
        ],
        algorithms={**ALGORITHMS, "root_wrap": _ROOT_WRAP.get(provider, provider)},
    )
