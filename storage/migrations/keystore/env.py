"""Alembic environment of the keystore database (run through storage.migrate)."""

from storage.keystore_models import KeystoreBase as Base
from storage.migrations.environment import run

run(Base.metadata, keystore=True)
