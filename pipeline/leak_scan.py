"""The leak scan (DPP 2.6): look for buyer PII where none may be, and say where without showing it.

Searched: every text and JSON column of the clear tables (orders, deliveries, quarantine, audit
events), and the configured log file with its rotated siblings (`ordervault.log.1`,
`ordervault.log.2026-10-01.gz`, ...). Two detectors:

* patterns: email addresses and international phone numbers (`+` and at least 7 digits), the
  same shapes the log redaction filter removes;
* known values: the text is cut into candidate emails, phones and identifiers, and each is
  looked up, as its blind-index digest, among the stored digests of the client. This finds a
  buyer id or an eBay user name that no pattern can recognise, without decrypting anything.

A finding names the source, the row id (or the file and line) and the kind, never the value.
Broker queues, dead-letter queues included, are not read: messages carry ids only, and the
delivery errors of dead messages are in `deliveries.last_error`, which is scanned.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from crypto import InvalidValueError
from pipeline.jobs.queued import queued_messages
from pipeline.runtime import Runtime
from storage.models import AuditEvent, BlindIndexEntry, DataBase, Delivery, Order, QuarantineEntry

__all__ = ["NOT_SCANNED", "Finding", "LeakScanReport", "scan"]

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
PHONE = re.compile(r"\+\d(?:[\s().-]?\d){6,}")
# Marketplace ids, user names and eBay EIAS tokens: runs without spaces, at least 5 long.
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=/|~-]{4,127}")
_INDEXED_KINDS = ("buyer_id", "username", "eias_token")
_TABLES: tuple[type[DataBase], ...] = (Order, Delivery, QuarantineEntry, AuditEvent)
_BATCH_ROWS = 500
_LOOKUP_CHUNK = 500

NOT_SCANNED = ()
_INLINE_NOT_SCANNED = (
    "broker queues: the inline broker lives inside each command and holds nothing between "
    "them (the errors of dead deliveries are scanned in deliveries.last_error)",
)


@dataclass(frozen=True, order=True)
class Finding:
    """One suspected leak: `source` is "<table>.<column>" or "log"; `location` a row id and
    JSON path, or "<file>:<line>"; `kind` "email", "phone" or "known:<blind-index kind>"."""

    source: str
    location: str
    kind: str


@dataclass
class LeakScanReport:
    findings: list[Finding] = field(default_factory=list)
    rows_scanned: int = 0
    log_files: list[str] = field(default_factory=list)
    log_lines_scanned: int = 0
    broker_messages_scanned: int = 0
    not_scanned: tuple[str, ...] = NOT_SCANNED

    @property
    def clean(self) -> bool:
        return not self.findings

    def count_by(self, attribute: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for finding in self.findings:
            key = getattr(finding, attribute)
            counts[key] = counts.get(key, 0) + 1
        return dict(sorted(counts.items()))


@dataclass(frozen=True)
class _Text:
    source: str
    location: str
    text: str


def scan(runtime: Runtime, *, client_id: str | None = None) -> LeakScanReport:
    """Scan the clear columns (of `client_id` only, if given), the log files and the broker."""
    report = LeakScanReport()
    texts: list[_Text] = []
    for text in _database_texts(runtime, client_id, report):
        texts.append(text)
    for text in _log_texts(runtime, report):
        texts.append(text)
    for text in _broker_texts(runtime, report):
        texts.append(text)
    found: set[Finding] = set()
    for text in texts:
        if EMAIL.search(text.text):
            found.add(Finding(text.source, text.location, "email"))
        if PHONE.search(text.text):
            found.add(Finding(text.source, text.location, "phone"))
    found.update(_known_values(runtime, texts, client_id))
    report.findings = sorted(found)
    return report


# --- sources -------------------------------------------------------------------------------


def _text_columns(table: sa.Table) -> list[sa.Column[Any]]:
    return [
        column
        for column in table.columns
        if isinstance(column.type, sa.String | sa.JSON) and column.name != "client_id"
    ]


def _database_texts(
    runtime: Runtime, client_id: str | None, report: LeakScanReport
) -> Iterator[_Text]:
    with runtime.sessions() as session:
        for model in _TABLES:
            table = model.__table__
            assert isinstance(table, sa.Table)
            columns = _text_columns(table)
            last_id: int | None = None
            while True:
                query = sa.select(table.c.id, *columns).order_by(table.c.id).limit(_BATCH_ROWS)
                if client_id is not None:
                    query = query.where(table.c.client_id == client_id)
                if last_id is not None:
                    query = query.where(table.c.id > last_id)
                rows = session.execute(query).all()
                for row in rows:
                    report.rows_scanned += 1
                    for column in columns:
                        source = f"{table.name}.{column.name}"
                        for path, text in _strings(row._mapping[column.name], "$"):
                            location = f"id {row.id}" + ("" if path == "$" else f" {path}")
                            yield _Text(source, location, text)
                if len(rows) < _BATCH_ROWS:
                    break
                last_id = rows[-1].id


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string inside a column value (JSON walked), with its JSON path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            # Keys are schema names; one that looks like data is not repeated in the path.
            name = key if isinstance(key, str) and key.isidentifier() else "?"
            if isinstance(key, str) and name == "?":
                yield f"{path}.<key>", key
            yield from _strings(item, f"{path}.{name}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


def log_files(runtime: Runtime) -> list[Path]:
    """The configured log file and its rotated siblings that exist, sorted by name."""
    configured = runtime.config.settings.logging.file
    if configured is None:
        return []
    path = Path(configured)
    if not path.parent.is_dir():
        return []
    return sorted(
        p
        for p in path.parent.iterdir()
        if p.is_file() and (p.name == path.name or p.name.startswith(path.name + "."))
    )


def _log_texts(runtime: Runtime, report: LeakScanReport) -> Iterator[_Text]:
    for path in log_files(runtime):
        report.log_files.append(str(path))
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh, start=1):
                report.log_lines_scanned += 1
                yield _Text("log", f"{path}:{number}", line)


def _broker_texts(runtime: Runtime, report: LeakScanReport) -> Iterator[_Text]:
    """Messages waiting, delayed or dead in RabbitMQ or Redis, read without consuming them."""
    broker = runtime.config.settings.broker
    if broker.url == "inline":
        report.not_scanned = _INLINE_NOT_SCANNED
        return
    for message in queued_messages(broker.connect_url):
        report.broker_messages_scanned += 1
        yield _Text(f"broker:{message.queue}", message.message_id, message.body)


# --- known values --------------------------------------------------------------------------


def _candidates(text: str) -> Iterator[tuple[str, str]]:
    """(blind-index kind, candidate value) for every token that might be an indexed value."""
    for match in EMAIL.finditer(text):
        yield "email", match.group()
    for match in PHONE.finditer(text):
        yield "phone", match.group()
    for match in _IDENTIFIER.finditer(text):
        for kind in _INDEXED_KINDS:
            yield kind, match.group()


def _clients_with_digests(runtime: Runtime, client_id: str | None) -> list[str]:
    query = sa.select(BlindIndexEntry.client_id).distinct()
    if client_id is not None:
        query = query.where(BlindIndexEntry.client_id == client_id)
    with runtime.sessions() as session:
        return sorted(session.scalars(query))


def _known_values(runtime: Runtime, texts: Iterable[_Text], client_id: str | None) -> set[Finding]:
    clients = _clients_with_digests(runtime, client_id)
    if not clients:
        return set()
    # Each distinct (kind, value) once; the places it occurs are remembered beside it.
    places: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for text in texts:
        for candidate in _candidates(text.text):
            places.setdefault(candidate, set()).add((text.source, text.location))
    found: set[Finding] = set()
    for client in clients:
        by_digest: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for kind, value in places:
            try:
                digest = runtime.vault.blind_index(client, kind, value)
            except InvalidValueError:
                continue
            by_digest.setdefault((kind, digest), []).append((kind, value))
        for kind, digest in _stored_digests(runtime, client, by_digest):
            for candidate in by_digest[(kind, digest)]:
                for source, location in places[candidate]:
                    found.add(Finding(source, location, f"known:{kind}"))
    return found


def _stored_digests(
    runtime: Runtime, client_id: str, wanted: dict[tuple[str, str], Any]
) -> set[tuple[str, str]]:
    digests = sorted({digest for _kind, digest in wanted})
    hits: set[tuple[str, str]] = set()
    with runtime.sessions() as session:
        for start in range(0, len(digests), _LOOKUP_CHUNK):
            chunk = digests[start : start + _LOOKUP_CHUNK]
            rows = session.execute(
                sa.select(BlindIndexEntry.kind, BlindIndexEntry.digest)
                .where(BlindIndexEntry.client_id == client_id, BlindIndexEntry.digest.in_(chunk))
                .distinct()
            )
            hits.update((kind, digest) for kind, digest in rows if (kind, digest) in wanted)
    return hits
