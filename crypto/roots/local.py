"""The `local` root-key provider: 32 random bytes in a file only its owner can read.

File layout (`key_file` from the settings, default `var/root.key`)::

    var/root.key                     the current root key: 32 raw bytes, mode 0600
    var/root.key.retired/            mode 0700: root keys being rotated away from
        <fingerprint>.key            one retired version, 32 raw bytes, mode 0600

A root key's id is `local:<fingerprint>`, where the fingerprint is the first 32 hex chars of
HMAC-SHA256(key, "ordervault/root-key-id/v1"): every file identifies itself, no index file can
disagree with the keys, and the id reveals nothing about the key.

Rotation: `stage_local_root_rotation` copies the current key into `root.key.retired/`, then
atomically replaces `root.key` with a new key (at no point is a key only in memory).
`crypto.rotate_root` then rewraps every stored key; `discard_retired_local_root_keys` overwrites
and deletes a retired key once nothing in the key store is wrapped under it. Discarding matters:
a backup of the key store stays readable for as long as the root that wrapped it exists.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto import _format
from crypto.errors import RootKeyError
from crypto.keystore import KeyStore
from crypto.roots.base import RootKeyProvider, RootKeyring

__all__ = [
    "LocalRootKey",
    "discard_retired_local_root_keys",
    "init_local_root_key",
    "load_local_root_keyring",
    "stage_local_root_rotation",
]

_PREFIX = "local:"
_UNSAFE_MODE_BITS = stat.S_IRWXG | stat.S_IRWXO
_RETIRED_SUFFIX = ".retired"


class LocalRootKey(RootKeyProvider):
    """A root key held in this process, loaded from a key file (see the module docstring)."""

    def __init__(self, key: bytes, *, random_bytes: Callable[[int], bytes] = os.urandom) -> None:
        if not isinstance(key, bytes) or len(key) != _format.KEY_BYTES:
            raise RootKeyError(f"a local root key is {_format.KEY_BYTES} bytes")
        self._aead = AESGCM(key)
        self._fingerprint = _fingerprint(key)
        self._random_bytes = random_bytes

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> LocalRootKey:
        """Load a key file, refusing one that group or others may read or write."""
        return cls(_read_key_file(Path(path)))

    @property
    def root_key_id(self) -> str:
        return _PREFIX + self._fingerprint

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    def wrap_key(self, key: bytes, context: Mapping[str, str]) -> bytes:
        nonce = self._random_bytes(_format.NONCE_BYTES)
        return _format.wrap_under_root(self._aead, self.root_key_id, nonce, key, context)

    def unwrap_key(self, wrapped_key: bytes, context: Mapping[str, str]) -> bytes:
        return _format.unwrap_under_root(self._aead, self.root_key_id, wrapped_key, context)


def _fingerprint(key: bytes) -> str:
    return hmac.new(key, b"ordervault/root-key-id/v1", hashlib.sha256).hexdigest()[:32]


def _read_key_file(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise RootKeyError(
            f"root key file {path} does not exist (create it with `ordervault keys init`)"
        ) from None
    except OSError as exc:
        raise RootKeyError(f"cannot open root key file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as key_file:
        # fstat on the open file, not stat on the path: the checked file is the one read.
        status = os.fstat(key_file.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise RootKeyError(f"root key file {path} is not a regular file")
        mode = stat.S_IMODE(status.st_mode)
        if mode & _UNSAFE_MODE_BITS:
            raise RootKeyError(
                f"root key file {path} has mode {mode:04o}: group or others may read or write"
                f" it; it must be 0600 or stricter (chmod 600 {path})"
            )
        key = key_file.read(_format.KEY_BYTES + 1)
    if len(key) != _format.KEY_BYTES:
        raise RootKeyError(
            f"root key file {path} holds {len(key)} bytes; a root key is {_format.KEY_BYTES}"
        )
    return key


def _write_new_file(path: Path, data: bytes) -> None:
    # O_EXCL: never overwrite a key; O_NOFOLLOW: never write through a planted symlink.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the umask may only have removed bits; make the mode exact
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _retired_dir(path: Path) -> Path:
    return path.with_name(path.name + _RETIRED_SUFFIX)


def init_local_root_key(
    path: str | os.PathLike[str], *, random_bytes: Callable[[int], bytes] = os.urandom
) -> LocalRootKey:
    """Create a new root key file with mode 0600. Refuses to overwrite an existing file."""
    key_path = Path(path)
    key_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = random_bytes(_format.KEY_BYTES)
    try:
        _write_new_file(key_path, key)
    except FileExistsError:
        raise RootKeyError(
            f"root key file {key_path} already exists; refusing to overwrite a root key"
        ) from None
    _fsync_dir(key_path.parent)
    return LocalRootKey(key)


def _retired_keys(path: Path) -> list[LocalRootKey]:
    retired_dir = _retired_dir(path)
    if not retired_dir.is_dir():
        return []
    return [LocalRootKey.from_file(p) for p in sorted(retired_dir.glob("*.key"))]


def load_local_root_keyring(path: str | os.PathLike[str]) -> RootKeyring:
    """The current key (`path`) and every retired key still kept beside it."""
    key_path = Path(path)
    return RootKeyring(LocalRootKey.from_file(key_path), _retired_keys(key_path))


def stage_local_root_rotation(
    path: str | os.PathLike[str], *, random_bytes: Callable[[int], bytes] = os.urandom
) -> tuple[LocalRootKey, LocalRootKey]:
    """Retire the current root key and put a new one in its place; return (old, new).

    Crash-safe at every step: the old key is copied into the retired directory (and fsynced)
    before `path` is atomically replaced, so some file always holds each key. Then run
    `rotate_root(keystore, old, new)`.
    """
    key_path = Path(path)
    old_key = _read_key_file(key_path)
    old = LocalRootKey(old_key)
    retired_dir = _retired_dir(key_path)
    retired_dir.mkdir(mode=0o700, exist_ok=True)
    retired_path = retired_dir / f"{old.fingerprint}.key"
    if not retired_path.exists():
        _write_new_file(retired_path, old_key)
        _fsync_dir(retired_dir)
    new_key = random_bytes(_format.KEY_BYTES)
    staging_path = key_path.with_name(key_path.name + ".new")
    staging_path.unlink(missing_ok=True)  # left by a crash before the replace below
    _write_new_file(staging_path, new_key)
    os.replace(staging_path, key_path)
    _fsync_dir(key_path.parent)
    return old, LocalRootKey(new_key)


def discard_retired_local_root_keys(path: str | os.PathLike[str], keystore: KeyStore) -> list[str]:
    """Overwrite and delete retired root keys nothing in `keystore` still needs; return their ids.

    A retired key still named by a stored key, or by a running rotation, is kept.
    """
    key_path = Path(path)
    current_id = LocalRootKey.from_file(key_path).root_key_id
    in_rotation = {r.from_root_key_id for r in keystore.running_rotations()}
    discarded: list[str] = []
    for retired_path in sorted(_retired_dir(key_path).glob("*.key")):
        retired = LocalRootKey.from_file(retired_path)
        root_key_id = retired.root_key_id
        if root_key_id == current_id or root_key_id in in_rotation:
            continue
        if keystore.count_wrapped_under(root_key_id) > 0:
            continue
        # Best effort on copy-on-write or flash storage, where old blocks may survive.
        with open(retired_path, "r+b") as key_file:
            key_file.write(bytes(_format.KEY_BYTES))
            key_file.flush()
            os.fsync(key_file.fileno())
        retired_path.unlink()
        discarded.append(root_key_id)
    if discarded:
        _fsync_dir(_retired_dir(key_path))
    return discarded
