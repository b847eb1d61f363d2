"""The `aws-kms` root-key provider: bucket and index keys wrapped by AWS KMS Encrypt/Decrypt.

Each call carries an EncryptionContext naming the client and the bucket, so KMS refuses to
decrypt a wrapped key presented for another bucket, and CloudTrail shows which bucket each
Decrypt served. Calls are rare: unwrapped bucket keys are cached by `PiiVault`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crypto.errors import DecryptError, RootKeyError
from crypto.roots.base import RootKeyProvider

__all__ = ["AwsKmsRootKey"]

_PREFIX = "aws-kms:"
# KMS's answers when a ciphertext is not authentic for this key and context.
_NOT_AUTHENTIC = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})
# Errors that retrying cannot fix: the key or the permissions are wrong.
_PERMANENT = frozenset(
    {
        "AccessDeniedException",
        "DisabledException",
        "InvalidKeyUsageException",
        "KMSInvalidStateException",
        "NotFoundException",
        "ValidationException",
    }
)


class AwsKmsRootKey(RootKeyProvider):
    """A KMS symmetric key (`key_id`: key ARN, key id, alias name or alias ARN).

    The key is resolved to its ARN once, at construction, and that ARN is the root_key_id: an
    alias moved to another key then shows up as a different root, which `rotate_root` can handle.
    KMS's own yearly rotation of key material keeps the ARN and needs no rewrap.
    """

    def __init__(
        self,
        key_id: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        client: Any = None,
    ) -> None:
        if client is None:
            import boto3  # deferred: only deployments that use KMS pay for importing boto3

            client = boto3.client("kms", region_name=region, endpoint_url=endpoint_url)
        self._kms = client
        described = self._call("DescribeKey", KeyId=key_id)
        self._key_arn: str = described["KeyMetadata"]["Arn"]

    @property
    def root_key_id(self) -> str:
        return _PREFIX + self._key_arn

    def wrap_key(self, key: bytes, context: Mapping[str, str]) -> bytes:
        answer = self._call(
            "Encrypt", KeyId=self._key_arn, Plaintext=key, EncryptionContext=dict(context)
        )
        blob: bytes = answer["CiphertextBlob"]
        return blob

    def unwrap_key(self, wrapped_key: bytes, context: Mapping[str, str]) -> bytes:
        answer = self._call(
            "Decrypt",
            # Naming the key makes KMS refuse a blob made under any other key.
            KeyId=self._key_arn,
            CiphertextBlob=wrapped_key,
            EncryptionContext=dict(context),
        )
        key: bytes = answer["Plaintext"]
        return key

    def _call(self, operation: str, **params: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        method = {
            "DescribeKey": self._kms.describe_key,
            "Encrypt": self._kms.encrypt,
            "Decrypt": self._kms.decrypt,
        }[operation]
        try:
            return method(**params)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "unknown"))
            if operation == "Decrypt" and code in _NOT_AUTHENTIC:
                raise DecryptError from None
            # Only the code: KMS messages are safe, but params (the plaintext key) must never
            # reach a message, and a chained exception could carry them.
            raise RootKeyError(
                f"AWS KMS {operation} failed: {code}", permanent=code in _PERMANENT
            ) from None
        except BotoCoreError as exc:
            raise RootKeyError(
                f"AWS KMS {operation} failed: {type(exc).__name__}", permanent=False
            ) from None
