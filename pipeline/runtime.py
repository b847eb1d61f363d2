"""Everything a command or worker needs, built once from the config: engines, sessions, vault.

The one place where configuration picks implementations (root-key provider, databases), so
commands and actors receive ready objects and never read settings themselves.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from crypto import AwsKmsRootKey, PiiVault, RootKeyProvider, RootKeyring, load_local_root_keyring
from pipeline.alarm import DecryptRateAlarm
from pipeline.config import Config
from pipeline.settings import KmsSettings
from storage import audit, create_engine, session_factory, write_session
from storage.keystore import SqlKeyStore

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def config_digest(config: Config) -> str:
    """SHA-256 over the settings file and the client files, in name order."""
    digest = hashlib.sha256()
    files = [config.path, *sorted(Path(config.settings.clients_dir).glob("*.toml"))]
    for file in files:
        digest.update(file.name.encode() + b"\x00")
        digest.update(file.read_bytes() if file.exists() else b"")
    return digest.hexdigest()


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
        runtime = cls(
            config=config,
            data_engine=data_engine,
            keystore_engine=keystore_engine,
            sessions=session_factory(data_engine),
            keystore=keystore,
            vault=vault,
            clock=clock,
            decrypt_alarm=DecryptRateAlarm(settings.audit.decrypt_alarm_per_minute),
        )
        runtime.audit_config_load()
        return runtime

    def audit_config_load(self) -> None:
        """Record which configuration this process runs with (DPP 2.6: changes are logged).

        The digest covers the settings and every client file as written (secret references, not
        secret values), so a changed file shows up as a new digest in the log.
        """
        with write_session(self.sessions) as session:
            audit.append(
                session,
                actor=f"process:{os.getpid()}",
                action="config_load",
                subject={"config": str(self.config.path)},
                details={
                    "clients": sorted(self.config.clients),
                    "digest": config_digest(self.config),
                },
                now=self.clock(),
            )

    def close(self) -> None:
        self.data_engine.dispose()
        self.keystore_engine.dispose()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
