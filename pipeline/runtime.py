"""Everything a command or worker needs, built once from the config: engines, sessions, vault.

The one place where configuration picks implementations (root-key provider, databases), so
commands and actors receive ready objects and never read settings themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from crypto import AwsKmsRootKey, PiiVault, RootKeyProvider, RootKeyring, load_local_root_keyring
from pipeline.alarm import DecryptRateAlarm
from pipeline.config import Config
from pipeline.settings import KmsSettings
from storage import create_engine, session_factory
from storage.keystore import SqlKeyStore

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def root_key(kms: KmsSettings) -> RootKeyProvider | RootKeyring:
    """The configured root-key provider (local key file, or AWS KMS)."""
    if kms.provider == "aws-kms":
        assert kms.key_id is not None  # enforced by KmsSettings
        return AwsKmsRootKey(kms.key_id, region=kms.region, endpoint_url=kms.endpoint_url)
    return load_local_root_keyring(kms.key_file)


@dataclass
class Runtime:
    config: Config
    data_engine: sa.Engine
    keystore_engine: sa.Engine
    sessions: sessionmaker[Session]
    keystore: SqlKeyStore
    vault: PiiVault
    clock: Clock = field(default=utc_now)
    decrypt_alarm: DecryptRateAlarm = field(default_factory=lambda: DecryptRateAlarm(1000))

    @classmethod
    def open(cls, config: Config, *, clock: Clock = utc_now) -> Runtime:
        settings = config.settings
        data_engine = create_engine(settings.database.connect_url)
        keystore_engine = create_engine(settings.keystore.url, keystore=True)
        keystore = SqlKeyStore(keystore_engine)
        vault = PiiVault(
            root_key(settings.kms),
            keystore,
            cache_size=settings.keystore.cache_size,
            clock_s=lambda: clock().timestamp(),
        )
        return cls(
            config=config,
            data_engine=data_engine,
            keystore_engine=keystore_engine,
            sessions=session_factory(data_engine),
            keystore=keystore,
            vault=vault,
            clock=clock,
            decrypt_alarm=DecryptRateAlarm(settings.audit.decrypt_alarm_per_minute),
        )

    def close(self) -> None:
        self.data_engine.dispose()
        self.keystore_engine.dispose()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
