"""Root-key providers: one small interface (`RootKeyProvider`), one module per KMS."""

from crypto.roots.aws_kms import AwsKmsRootKey
from crypto.roots.base import RootKeyProvider, RootKeyring
from crypto.roots.local import (
    LocalRootKey,
    discard_retired_local_root_keys,
    init_local_root_key,
    load_local_root_keyring,
    stage_local_root_rotation,
)

__all__ = [
    "AwsKmsRootKey",
    "LocalRootKey",
    "RootKeyProvider",
    "RootKeyring",
    "discard_retired_local_root_keys",
    "init_local_root_key",
    "load_local_root_keyring",
    "stage_local_root_rotation",
]
