"""Canary buyers, and the search for them in everything a deployment wrote.

Every PII field of a planted buyer carries its own marker (`cnry<run><marketplace><field>`),
so a finding names the field that leaked and where, never the value. The search is byte-wise
over each place's raw bytes, in the encodings a value could take on the way: as is and in any
letter case, UTF-16, JSON `\\u` escapes, percent-encoding, hex (PostgreSQL bytea, SQLite X''
literals), and base64 at each of the three byte alignments, standard and URL-safe.

Places (`Blob` sources): files under a folder (gzip files also decompressed), every row of every
table of a database, every message of every queue of a RabbitMQ vhost (read unacknowledged, so
they stay), every key of a Redis database (whatever its type), an HTTP endpoint's body, and the
part of a server log written since a mark.
"""

from __future__ import annotations

import base64
import gzip
import json
import secrets
import shutil
import subprocess
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pika
import redis
import sqlalchemy as sa

from connectors.amazon.search_v2026 import INCLUDED_DATA
from connectors.fakes.planted import PlantedBuyer

RABBITMQCTL = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"


# --- canaries ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Canary:
    label: str  # "amazon.email": the planted field, safe to print
    value: str  # what was planted
    marker: str  # the part unique to this run and field, searched for
    expected_at_destination: bool  # False for the buyers of malformed (quarantined) orders


@dataclass
class Canaries:
    """The canary buyers of one run; `run` makes every marker unique to it."""

    run: str = field(default_factory=lambda: secrets.token_hex(6))
    all: list[Canary] = field(default_factory=list)

    @property
    def fragment(self) -> Canary:
        """What every marker of the run starts with: finds a canary cut short, too."""
        return Canary("(any, possibly cut short)", "", f"cnry{self.run}", False)

    def buyer(self, marketplace: str, *, malformed: bool = False) -> PlantedBuyer:
        """A buyer whose every field (that `marketplace` has) is a canary."""
        tag = f"{marketplace}{'-quarantined' if malformed else ''}"
        code = marketplace[:2] + ("q" if malformed else "")

        def plant(name: str, make: str, *, fetched: bool = True) -> str:
            marker = f"cnry{self.run}{code}{name}"
            value = make.format(marker)
            self.all.append(Canary(f"{tag}.{name}", value, marker, fetched and not malformed))
            return value

        digits = str(10**10 + secrets.randbelow(9 * 10**10))  # 11 digits
        phone = f"+49{digits}"
        self.all.append(Canary(f"{tag}.phone", phone, digits, not malformed))
        ebay = marketplace == "ebay"
        amazon = not ebay
        return PlantedBuyer(
            name=plant("name", "Erika {}"),
            email=plant("email", "{}@example.invalid"),
            phone=phone,
            address_line1=plant("line1", "{} 17"),
            address_line2=plant("line2", "Hinterhaus {}"),
            company=plant("company", "{} GmbH"),
            gift_message=plant("gift", "Alles Gute! {}"),
            buyer_message=plant("message", "Bitte beim Nachbarn {} abgeben") if ebay else None,
            username=plant("username", "{}") if ebay else None,
            # Amazon's TAX dataset is not asked for (data minimisation): planted, never pulled.
            tax_id=plant("taxid", "DE{}", fetched=ebay or "TAX" in INCLUDED_DATA),
            purchase_order=plant("po", "PO-{}") if amazon else None,
            custom_url=plant("customurl", "https://custom.amazon.invalid/c/{}") if amazon else None,
            malformed=malformed,
        )


# --- the search ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Blob:
    where: str  # "file var/ordervault.log", "postgres orders row 3", "rabbitmq q.XQ #0"
    data: bytes


@dataclass(frozen=True, order=True)
class Finding:
    label: str
    where: str
    encoding: str

    def __str__(self) -> str:
        return f"{self.label} in {self.where} ({self.encoding})"


def _base64_needles(raw: bytes) -> Iterator[bytes]:
    """The base64 characters that depend on `raw` alone, at each offset modulo 3."""
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw)
        start = 4 if offset else 0
        end = len(encoded) - (4 if (offset + len(raw)) % 3 else 0)
        core = encoded[start:end]
        yield core
        yield core.replace(b"+", b"-").replace(b"/", b"_")


def needles(marker: str) -> tuple[dict[str, bytes], dict[str, list[bytes]]]:
    """(encodings searched case-insensitively, encodings searched exactly) of one marker."""
    text = marker.lower()
    folded = {
        "utf-8": text.encode(),
        "utf-16": text.encode("utf-16-le"),
        "json-escaped": "".join(f"\\u{ord(c):04x}" for c in text).encode(),
        "percent-encoded": "".join(f"%{b:02x}" for b in text.encode()).encode(),
        "hex": text.encode().hex().encode(),
    }
    exact = {"base64": list(_base64_needles(marker.encode()))}
    return folded, exact


class Searcher:
    def __init__(self, canaries: Iterable[Canary]) -> None:
        self._compiled = [(c.label, *needles(c.marker)) for c in canaries]
        self.blobs = 0
        self.bytes = 0
        self.places: dict[str, int] = {}

    def search(self, blobs: Iterable[Blob], kind: str) -> list[Finding]:
        found: list[Finding] = []
        self.places.setdefault(kind, 0)
        for blob in blobs:
            self.blobs += 1
            self.bytes += len(blob.data)
            self.places[kind] += 1
            lowered = blob.data.lower()
            for label, folded, exact in self._compiled:
                for encoding, needle in folded.items():
                    at = lowered.find(needle)
                    if at >= 0:
                        found.append(Finding(label, _locate(blob, at), encoding))
                for encoding, variants in exact.items():
                    for needle in variants:
                        at = blob.data.find(needle)
                        if at >= 0:
                            found.append(Finding(label, _locate(blob, at), encoding))
                            break
        return found

    def contains(self, data: bytes, canary: Canary) -> bool:
        return canary.marker.lower().encode() in data.lower()


def _locate(blob: Blob, at: int) -> str:
    if blob.where.startswith("file "):
        line = blob.data.count(b"\n", 0, at) + 1
        return f"{blob.where}:{line}"
    return blob.where


# --- places --------------------------------------------------------------------------------


def files(root: Path) -> Iterator[Blob]:
    """Every regular file under `root`; gzip files also decompressed."""
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        data = path.read_bytes()
        where = f"file {path.relative_to(root)}"
        yield Blob(where, data)
        if data[:2] == b"\x1f\x8b":
            yield Blob(where + " (gunzipped)", gzip.decompress(data))


def _cell(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return json.dumps(value, default=str, ensure_ascii=False).encode()


def database_rows(url: str, label: str) -> Iterator[Blob]:
    """Every row of every table (reflected, so tables added later are included)."""
    engine = sa.create_engine(url)
    try:
        metadata = sa.MetaData()
        metadata.reflect(engine)
        with engine.connect() as connection:
            for table in metadata.sorted_tables:
                for number, row in enumerate(connection.execute(sa.select(table))):
                    data = b"\x1e".join(_cell(value) for value in row)
                    yield Blob(f"{label} {table.name} row #{number}", data)
    finally:
        engine.dispose()


def table_rows(url: str, table: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.scalar(sa.text(f'SELECT count(*) FROM "{table}"')) or 0)
    finally:
        engine.dispose()


def rabbitmq_queues(vhost: str) -> list[str]:
    out = subprocess.run(
        [RABBITMQCTL, "list_queues", "-p", vhost, "--quiet", "--no-table-headers", "name"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return sorted(line.strip() for line in out.splitlines() if line.strip())


def rabbitmq_messages(url: str, queues: Iterable[str]) -> Iterator[Blob]:
    """Every message of these queues: body, headers and properties; all left in place."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        for queue in queues:
            channel = connection.channel()
            number = 0
            while True:
                method, properties, body = channel.basic_get(queue, auto_ack=False)
                if method is None:
                    break
                yield Blob(f"rabbitmq {queue} #{number}", body + repr(properties).encode())
                number += 1
            channel.close()  # unacknowledged messages go back to their queue
    finally:
        connection.close()


def redis_keys(url: str) -> Iterator[Blob]:
    """Every key of the URL's database, with everything it holds."""
    client = redis.Redis.from_url(url)
    try:
        for key in client.scan_iter(count=500):
            kind = client.type(key).decode()
            parts: list[bytes] = [key]
            if kind == "string":
                parts.append(client.get(key) or b"")
            elif kind == "list":
                parts += client.lrange(key, 0, -1)
            elif kind == "hash":
                for name, value in client.hgetall(key).items():
                    parts += [name, value]
            elif kind == "set":
                parts += sorted(client.smembers(key))
            elif kind == "zset":
                parts += [member for member, _score in client.zrange(key, 0, -1, withscores=True)]
            elif kind == "stream":
                for entry_id, values in client.xrange(key):
                    parts.append(entry_id)
                    for name, value in values.items():
                        parts += [name, value]
            else:
                parts.append(client.dump(key) or b"")
            yield Blob(f"redis {key.decode(errors='replace')} ({kind})", b"\x1e".join(parts))
    finally:
        client.close()


def http_body(url: str, label: str) -> Blob:
    with urllib.request.urlopen(url, timeout=10) as response:  # loopback only
        return Blob(label, response.read())


@dataclass(frozen=True)
class LogMark:
    """Where a server log ended when the run began; `appended()` reads what came after."""

    path: Path
    size: int

    @classmethod
    def of(cls, pattern: str) -> list[LogMark]:
        folder, _, glob = pattern.rpartition("/")
        base = Path(folder or "/")
        if not base.is_dir():
            return []
        marks = []
        for path in sorted(base.glob(glob)):
            try:
                marks.append(cls(path, path.stat().st_size))
            except OSError:
                continue
        return marks

    def appended(self) -> Blob:
        with self.path.open("rb") as handle:
            size = self.path.stat().st_size
            handle.seek(self.size if size >= self.size else 0)  # rotated: read it all
            return Blob(f"server log {self.path}", handle.read())


# --- an isolated RabbitMQ vhost ------------------------------------------------------------


def _ctl(*args: str) -> None:
    subprocess.run([RABBITMQCTL, *args], check=True, capture_output=True, timeout=60)


@contextmanager
def rabbitmq_vhost(server_url: str) -> Iterator[tuple[str, str]]:
    """A vhost of its own for one test, deleted afterwards: (its name, the URL into it)."""
    parts = urlsplit(server_url)
    vhost = f"ordervault-canary-{secrets.token_hex(4)}"
    _ctl("add_vhost", vhost)
    try:
        _ctl("set_permissions", "-p", vhost, parts.username or "guest", ".*", ".*", ".*")
        yield vhost, urlunsplit(parts._replace(path="/" + vhost))
    finally:
        _ctl("delete_vhost", vhost)
