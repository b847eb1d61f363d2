# Types of the compiled module crypto/_aead.c; see crypto/_format.py for what it implements.
from typing import final

from crypto.records import RecordRef

@final
class SecretKey:
    """A 256-bit AES-GCM key held in C memory only: no bytes, no pickling, a redacted repr."""

    def __init__(self, raw: bytes, /) -> None: ...

def seal_record(
    bucket_key: SecretKey,
    bucket_ad: bytes,
    randomness: tuple[bytes, ...],
    pii: bytes,
    record: RecordRef,
    /,
) -> tuple[bytes, bytes]: ...
def open_record(
    bucket_key: SecretKey,
    bucket_ad: bytes,
    wrapped_key: tuple[bytes, bytes, bytes],
    sealed: bytes,
    record: RecordRef,
    /,
) -> bytes: ...
def unwrap_data_key(
    bucket_key: SecretKey,
    bucket_ad: bytes,
    wrapped_key: tuple[bytes, bytes, bytes],
    record: RecordRef,
    /,
) -> SecretKey: ...
def wrap_data_key(
    bucket_key: SecretKey, bucket_ad: bytes, nonce: bytes, data_key: SecretKey, record: RecordRef, /
) -> bytes: ...
