"""The root-key provider interface, and the keyring that holds the current and retired roots.

A provider wraps and unwraps 32-byte keys (bucket keys, index keys) under a root key it never
exposes, binding each wrapped key to a context mapping (client, bucket). The interface is the
common ground of the KMSs we target: AWS KMS Encrypt/Decrypt with an EncryptionContext, Vault
Transit encrypt/decrypt with a context, Google Cloud KMS with additional authenticated data.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping

from crypto.errors import RootKeyError

__all__ = ["RootKeyProvider", "RootKeyring"]


class RootKeyProvider(ABC):
    """One root key. Subclasses must never put key material in a message, log or repr."""

    @property
    @abstractmethod
    def root_key_id(self) -> str:
        """Stable name of this root key version, recorded on every key it wraps (max 128 chars).

        Prefixed by the provider ("local:", "aws-kms:") so rotation can tell roots apart.
        """

    @abstractmethod
    def wrap_key(self, key: bytes, context: Mapping[str, str]) -> bytes:
        """Encrypt `key` under the root, bound to `context`. RootKeyError if the root is out of
        reach."""

    @abstractmethod
    def unwrap_key(self, wrapped_key: bytes, context: Mapping[str, str]) -> bytes:
        """Decrypt what `wrap_key` returned for the same context.

        DecryptError if it is not authentic under this root and context; RootKeyError if the root
        is out of reach.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root_key_id={self.root_key_id!r})"


class RootKeyring:
    """The current root (wraps every new key) and retired roots (only unwrap, until rotated away).

    Keys are unwrapped by the root named on their row, so a process keeps working while a
    rotation is half done.
    """

    def __init__(self, current: RootKeyProvider, retired: Iterable[RootKeyProvider] = ()) -> None:
        self.current = current
        self._by_id: dict[str, RootKeyProvider] = {p.root_key_id: p for p in retired}
        self._by_id[current.root_key_id] = current

    @property
    def root_key_ids(self) -> list[str]:
        return sorted(self._by_id)

    def provider(self, root_key_id: str) -> RootKeyProvider:
        try:
            return self._by_id[root_key_id]
        except KeyError:
            raise RootKeyError(
                f"a stored key is wrapped under root key {root_key_id!r}, which is not configured;"
                f" configured: {', '.join(self.root_key_ids)} (keep a retired root key until"
                " `rotate_root` away from it has finished)"
            ) from None

    def __repr__(self) -> str:
        return f"RootKeyring(current={self.current!r}, root_key_ids={self.root_key_ids!r})"
