"""Exercises crypto._aead for tests/crypto/test_native_memcheck.py, run under valgrind.

Loads only crypto/errors.py and the extension (argv[1] is the crypto folder): the package's
__init__ would import most of its dependencies, which is slow under valgrind and not under test.
Prints "ok" at the end.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable

package = types.ModuleType("crypto")
package.__path__ = [sys.argv[1]]
sys.modules["crypto"] = package

from crypto import _aead, errors  # noqa: E402

KEY = _aead.SecretKey(bytes(range(32)))
BUCKET_AD = b"\x01" + bytes(16) + b"ordervault/data-key\0acme\x002026-04-05\0"
SHORT = ("acme", "amazon", "302-1", 1)
LONG = ("\U0001f600" * 64, "m" * 256, "\U0001f9fe" * 256, 2**31 - 1)  # past the stack buffer
DRAW = (bytes(range(32)), bytes(12), bytes(range(12)))


def refused(call: Callable[[], object]) -> None:
    try:
        call()
    except errors.DecryptError:
        return
    raise AssertionError("opened")


def exercise(pii: bytes, record: tuple[str, str, str, int]) -> None:
    sealed, wrapped = _aead.seal_record(KEY, BUCKET_AD, DRAW, pii, record)
    parts = (wrapped[1:17], wrapped[17:29], wrapped[29:])
    assert _aead.open_record(KEY, BUCKET_AD, parts, sealed, record) == pii
    data_key = _aead.unwrap_data_key(KEY, BUCKET_AD, parts, record)
    assert _aead.wrap_data_key(KEY, BUCKET_AD, DRAW[2], data_key, record) == wrapped
    tag_flipped = sealed[:-1] + bytes([sealed[-1] ^ 1])
    for bad in (sealed[:-1], sealed + b"\0", b"", sealed[:28], b"\x02" + sealed[1:], tag_flipped):
        refused(lambda bad=bad: _aead.open_record(KEY, BUCKET_AD, parts, bad, record))
    bad_parts = (parts[0], parts[1], bytes(48))
    refused(lambda: _aead.open_record(KEY, BUCKET_AD, bad_parts, sealed, record))
    refused(lambda: _aead.unwrap_data_key(KEY, BUCKET_AD, bad_parts, record))


for pii in (b"", b"x", bytes(645), bytes(5000)):
    for record in (SHORT, LONG):
        exercise(pii, record)
print("ok")
