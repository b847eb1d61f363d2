"""Data-subject requests: export or erase one buyer's orders, found through the blind index.

A buyer is named by email or by marketplace buyer id. Lookup never decrypts: the identifier is
turned into its blind-index digest under the client's index key and matched against the stored
digests. `--buyer-id` matches every marketplace identifier kind a request may carry: Amazon's
buyer id and eBay's immutable user id (kind `buyer_id`), and eBay's `eias_token` and
`username` (an eBay Marketplace Account Deletion notification names the user by all three).

Export opens each order through the one audited decrypt path (purpose `dsar_export`) and writes
the buyer's orders as JSON readable only by its owner (mode 0600). Erase drops each order's
ciphertext and wrapped data key at once (the per-order data key is what makes one order erasable
while its bucket lives on); backup copies die with their bucket. Both record the operator in
the audit log, with order ids and never the identifier itself.
"""

from __future__ import annotations

import enum
import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline.access import PiiUnavailableError, Purpose, open_order
from pipeline.runtime import Runtime
from storage import audit, find_order_ids_by_blind_index, mark_shredded, write_session

__all__ = [
    "EXPORT_FORMAT",
    "DsarError",
    "EraseReport",
    "ExportReport",
    "IdentifierKind",
    "Subject",
    "erase",
    "export",
    "find_orders",
    "operator_actor",
]

EXPORT_FORMAT = "ordervault.dsar-export/1"
ERASED_REASON = "erased"
# Printable, no control characters, short enough for the audit log's actor column.
_OPERATOR = re.compile(r"[^\x00-\x1f\x7f]{1,100}")


class DsarError(Exception):
    """The request cannot be carried out as given (bad operator name, unknown client)."""


class IdentifierKind(enum.StrEnum):
    EMAIL = "email"
    BUYER_ID = "buyer_id"

    @property
    def index_kinds(self) -> tuple[str, ...]:
        """The blind-index kinds an identifier of this kind is matched against."""
        if self is IdentifierKind.EMAIL:
            return ("email",)
        return ("buyer_id", "eias_token", "username")


@dataclass(frozen=True)
class Subject:
    """The data subject of a request. The value is PII: it is never shown or logged."""

    kind: IdentifierKind
    value: str

    def __repr__(self) -> str:
        return f"Subject(kind={self.kind.value!r}, value=<redacted>)"


def operator_actor(operator: str) -> str:
    """The audit actor for a named operator; DsarError if the name is unusable."""
    name = operator.strip()
    if not _OPERATOR.fullmatch(name):
        raise DsarError("operator must be a name of 1-100 printable characters")
    return f"operator:{name}"


def find_orders(runtime: Runtime, client_id: str, subject: Subject) -> list[int]:
    """Ids of the client's orders (with PII still held) that name `subject`, ascending."""
    if client_id not in runtime.config.clients:
        raise DsarError(f"no client {client_id!r} in the configuration")
    found: set[int] = set()
    with runtime.sessions() as session:
        for kind in subject.kind.index_kinds:
            digest = runtime.vault.blind_index(client_id, kind, subject.value)
            found.update(find_order_ids_by_blind_index(session, client_id, kind, digest))
    return sorted(found)


@dataclass(frozen=True)
class ExportReport:
    order_ids: list[int]
    unavailable_order_ids: list[int]
    path: Path


def export(
    runtime: Runtime, client_id: str, subject: Subject, *, operator: str, out: Path
) -> ExportReport:
    """Write the subject's orders, with their PII, to `out` (JSON, mode 0600); audited."""
    actor = operator_actor(operator)
    now = runtime.clock()
    exported: list[dict[str, Any]] = []
    unavailable: list[int] = []
    for order_id in find_orders(runtime, client_id, subject):
        try:
            order = open_order(runtime, order_id, purpose=Purpose.DSAR_EXPORT, actor=actor)
        except (PiiUnavailableError, LookupError):
            # Its key died or it was erased since the lookup: nothing left to hand over.
            unavailable.append(order_id)
            continue
        exported.append({"order_id": order_id, "order": order.model_dump(mode="json")})
    document = {
        "format": EXPORT_FORMAT,
        "client_id": client_id,
        "generated_at": now.isoformat(),
        "identifier_kind": subject.kind.value,
        "orders": exported,
        "unavailable_order_ids": unavailable,
    }
    _write_private(out, json.dumps(document, ensure_ascii=False, indent=2).encode() + b"\n")
    exported_ids = [entry["order_id"] for entry in exported]
    with write_session(runtime.sessions) as session:
        audit.append(
            session,
            actor=actor,
            action="dsar_export",
            client_id=client_id,
            subject={"order_ids": exported_ids},
            details={
                "identifier_kind": subject.kind.value,
                "orders_exported": len(exported_ids),
                "orders_unavailable": len(unavailable),
            },
            now=now,
        )
    return ExportReport(exported_ids, unavailable, out)


def _write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically, readable and writable by the owner only."""
    path = path.absolute()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class EraseReport:
    order_ids: list[int]
    erased_at: datetime


def erase(runtime: Runtime, client_id: str, subject: Subject, *, operator: str) -> EraseReport:
    """Drop the PII of every order naming `subject` at once; audited. Idempotent."""
    actor = operator_actor(operator)
    now = runtime.clock()
    order_ids = find_orders(runtime, client_id, subject)
    erased: list[int] = []
    with write_session(runtime.sessions) as session:
        for order_id in order_ids:
            if mark_shredded(session, order_id, reason=ERASED_REASON, now=now):
                erased.append(order_id)
        audit.append(
            session,
            actor=actor,
            action="erase",
            client_id=client_id,
            subject={"order_ids": erased},
            details={"identifier_kind": subject.kind.value, "orders_erased": len(erased)},
            now=now,
        )
    return EraseReport(erased, now)
