"""Blind index: keyed digests that find a buyer's records without decrypting anything.

digest = HMAC-SHA256(client's index key, "ordervault/blind-index/v1" NUL kind NUL value). The
kind label separates domains: an email and a buyer id with the same text digest differently, and
`content` (the keyed digest of a whole payload) can never collide with an identifier's digest.
Values are normalised per kind first, so the writer and the searcher agree.

Error messages never include the value: it is PII.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Callable
from typing import Protocol, cast

from crypto.errors import InvalidValueError

__all__ = ["CONTENT_KIND", "IndexKey", "normalize_email", "normalize_identifier", "normalize_phone"]

CONTENT_KIND = "content"
_KIND = re.compile(r"[a-z][a-z0-9_]{0,31}")
_LABEL = b"ordervault/blind-index/v1\0"
_PHONE_NOISE = re.compile(r"[\s().\-/]")
# For str patterns `\s` is exactly `str.isspace` (both are CPython's Py_UNICODE_ISSPACE), and
# one search is a fraction of a per-character generator on the ingest path.
_WHITESPACE = re.compile(r"\s")


def normalize_identifier(value: str) -> str:
    """NFKC and trimmed; case kept (marketplace ids can be case-sensitive)."""
    normalized = unicodedata.normalize("NFKC", value).strip()
    if not normalized:
        raise InvalidValueError("identifier is empty")
    return normalized


def normalize_email(address: str) -> str:
    """Trimmed, NFKC, lower-cased, domain in IDNA (punycode) form.

    Sub-addresses (`+tag`) and dots are kept: whether they matter is each mail provider's
    business, and Amazon's per-order relay addresses differ in exactly such parts.
    """
    text = unicodedata.normalize("NFKC", address).strip()
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain or _WHITESPACE.search(text):
        raise InvalidValueError("not an email address")
    domain = domain.rstrip(".").lower()
    if domain.isascii():
        # The idna codec's own ASCII path (the text unchanged, label lengths checked), without
        # the codec lookup that costs more than the check on the ingest path.
        labels = domain.split(".")
        if len(labels[-1]) >= 64 or not all(0 < len(label) < 64 for label in labels[:-1]):
            raise InvalidValueError("email domain is not a valid host name")
    else:
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise InvalidValueError("email domain is not a valid host name") from None
    return f"{local.lower()}@{domain}"


def normalize_phone(number: str) -> str:
    """Digits only, with a leading "+" kept and "00" read as "+"."""
    text = _PHONE_NOISE.sub("", unicodedata.normalize("NFKC", number).strip())
    plus = text.startswith("+")
    digits = text[1:] if plus else text
    if plus is False and digits.startswith("00"):
        plus, digits = True, digits[2:]
    if not digits.isdigit() or not digits.isascii():
        raise InvalidValueError("not a phone number")
    return ("+" if plus else "") + digits


_NORMALIZERS: dict[str, Callable[[str], str]] = {
    "email": normalize_email,
    "phone": normalize_phone,
}


# Kinds already checked: a handful per deployment, each checked once instead of per value.
_VALID_KINDS: set[str] = set()
# A bound on what is remembered per kind, should a caller invent kinds without end.
_MAX_KINDS_REMEMBERED = 64


def normalize(kind: str, value: str) -> str:
    if kind not in _VALID_KINDS:
        _check_kind(kind)
    if not isinstance(value, str):
        raise InvalidValueError("a blind-indexed value is a str")
    return _NORMALIZERS.get(kind, normalize_identifier)(value)


def _check_kind(kind: str) -> None:
    if not isinstance(kind, str) or kind == CONTENT_KIND or not _KIND.fullmatch(kind):
        raise InvalidValueError(
            f"blind index kind {kind!r} is not a lower-case label (and not {CONTENT_KIND!r})"
        )
    if len(_VALID_KINDS) < _MAX_KINDS_REMEMBERED:
        _VALID_KINDS.add(kind)


class _MacState(Protocol):
    """What `hmac.HMAC` and the OpenSSL state inside it both offer."""

    def copy(self) -> _MacState: ...
    def update(self, msg: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


def _keyed_state(key: bytes) -> _MacState:
    """HMAC-SHA256 keyed with `key`: CPython's OpenSSL state itself where `hmac` has one.

    `hmac.HMAC` wraps that state in Python: its copy, update and hexdigest cost as much again
    as the C calls they make, and the blind index takes one of each per digest. Same MAC, same
    bytes; the wrapper where the state is not there (another Python, no OpenSSL).
    """
    mac = hmac.new(key, digestmod=hashlib.sha256)
    state = getattr(mac, "_hmac", None)
    return cast(_MacState, mac if state is None else state)


class IndexKey:
    """A client's unwrapped index key, kept as a keyed HMAC state (never as bytes here)."""

    __slots__ = ("_by_kind", "_keyed", "client_id")

    def __init__(self, client_id: str, key: bytes) -> None:
        self.client_id = client_id
        self._keyed = _keyed_state(key)
        # The keyed state with each kind's label already absorbed: one copy and one update per
        # digest instead of two updates. A few kinds exist; more than that are not remembered.
        self._by_kind: dict[str, _MacState] = {}

    def digest(self, kind: str, value: bytes) -> str:
        """HMAC of `value` under this key, labelled by `kind` (already validated): 64 hex chars."""
        labelled = self._by_kind.get(kind)
        if labelled is None:
            labelled = self._keyed.copy()
            labelled.update(_LABEL + kind.encode() + b"\0")
            if len(self._by_kind) < _MAX_KINDS_REMEMBERED:
                self._by_kind[kind] = labelled
        mac = labelled.copy()
        mac.update(value)
        return mac.hexdigest()

    def __repr__(self) -> str:
        return f"IndexKey(client_id={self.client_id!r}, key=<redacted>)"
