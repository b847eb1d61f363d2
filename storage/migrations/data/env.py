"""Alembic environment of the data database (run through storage.migrate)."""

from storage.migrations.environment import run
from storage.models import DataBase as Base

run(Base.metadata, keystore=False)
