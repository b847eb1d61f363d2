"""Envelope encryption, the key hierarchy, root-key providers and the blind index.

Imports neither `storage` nor `pipeline`.

Hierarchy::

    root key (RootKeyProvider: LocalRootKey file, AwsKmsRootKey)
      └─ bucket key: one per (client, expiry day), random 256-bit, in the key store wrapped by
         the root, with a commitment that outlives it
           └─ data key: one per record, random 256-bit, on the record's row wrapped by its bucket
                └─ PII: AES-256-GCM, bound to client, marketplace, record id, schema version

Public API (everything else, notably `_format`, is private)::

    vault = PiiVault(root, keystore, *, cache_size=4096, cache_ttl_s=300.0,
                     clock_s=time.time, random_bytes=os.urandom)
    vault.seal(record: RecordRef, pii: bytes, bucket_day: date) -> Sealed
    vault.open(record: RecordRef, ciphertext: bytes, wrapped_key: bytes) -> bytes
    vault.rewrap(record: RecordRef, wrapped_key: bytes, to_day: date) -> Rewrapped
    vault.destroy_bucket(client_id: str, day: date, now: datetime) -> BucketTombstone
    vault.buckets_due(through_day: date) -> list[tuple[str, date]]
    vault.blind_index(client_id: str, kind: str, value: str) -> str     # 64 hex chars
    vault.content_digest(client_id: str, data: bytes) -> str           # 64 hex chars
    vault.key_status(client_id: str) -> KeyStatus
    vault.cache_stats() -> CacheStats

    RecordRef(client_id: str, marketplace: str, record_id: str, schema_version: int)
    normalize_email(address: str) -> str; normalize_phone(number: str) -> str
    normalize_identifier(value: str) -> str

    init_local_root_key(path, *, random_bytes=os.urandom) -> LocalRootKey
    LocalRootKey.from_file(path) -> LocalRootKey
    load_local_root_keyring(path) -> RootKeyring
    stage_local_root_rotation(path, *, random_bytes=os.urandom) -> tuple[LocalRootKey, LocalRootKey]
    discard_retired_local_root_keys(path, keystore: KeyStore) -> list[str]
    AwsKmsRootKey(key_id: str, *, region=None, endpoint_url=None, client=None)
    RootKeyring(current: RootKeyProvider, retired: Iterable[RootKeyProvider] = ())
    rotate_root(keystore: KeyStore, old: RootKeyProvider, new: RootKeyProvider,
                *, clock_s=time.time) -> RotationReport
    finish_root_rotations(keystore: KeyStore, keyring: RootKeyring,
                          *, clock_s=time.time) -> list[RotationReport]

    backend() -> str    # "openssl" or "cryptography": which implementation seals and opens

Errors: every exception is a `CryptoError`; every failure to open is a `DecryptError`.

Backends: records are sealed and opened by a small C extension on the system's OpenSSL 3
(crypto/_aead.c, built by `pip install` when a C compiler and the OpenSSL headers are present;
`backend()` is "openssl"), else by the same format in Python on pyca/cryptography's AESGCM
("cryptography"). Both write the same bytes, so either opens what the other sealed; the
compiled one is about twice as fast per record and keeps keys out of Python memory.
"""

from crypto._format import backend
from crypto.blind_index import normalize_email, normalize_identifier, normalize_phone
from crypto.cache import CacheStats
from crypto.errors import (
    BucketDestroyedError,
    CryptoError,
    DecryptError,
    InvalidValueError,
    KeyStoreError,
    RootKeyError,
    RotationError,
)
from crypto.keystore import BucketKeyRow, IndexKeyRow, KeyStore, RootRotationRow
from crypto.records import BucketTombstone, KeyStatus, RecordRef, Rewrapped, Sealed
from crypto.roots import (
    AwsKmsRootKey,
    LocalRootKey,
    RootKeyProvider,
    RootKeyring,
    discard_retired_local_root_keys,
    init_local_root_key,
    load_local_root_keyring,
    stage_local_root_rotation,
)
from crypto.rotation import RotationReport, finish_root_rotations, rotate_root
from crypto.vault import PiiVault

__all__ = [
    "AwsKmsRootKey",
    "BucketDestroyedError",
    "BucketKeyRow",
    "BucketTombstone",
    "CacheStats",
    "CryptoError",
    "DecryptError",
    "IndexKeyRow",
    "InvalidValueError",
    "KeyStatus",
    "KeyStore",
    "KeyStoreError",
    "LocalRootKey",
    "PiiVault",
    "RecordRef",
    "Rewrapped",
    "RootKeyError",
    "RootKeyProvider",
    "RootKeyring",
    "RootRotationRow",
    "RotationError",
    "RotationReport",
    "Sealed",
    "backend",
    "discard_retired_local_root_keys",
    "finish_root_rotations",
    "init_local_root_key",
    "load_local_root_keyring",
    "normalize_email",
    "normalize_identifier",
    "normalize_phone",
    "rotate_root",
    "stage_local_root_rotation",
]
