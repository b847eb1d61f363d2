"""Moving a test's data database to one Alembic revision, up or down, for migration tests."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from storage import migrate


def migrate_data_to(engine: sa.Engine, revision: str, *, down: bool = False) -> None:
    """Upgrade (or, with `down`, downgrade) the data schema behind `engine` to `revision`."""
    with engine.begin() as connection:
        config = migrate.alembic_config(keystore=False)
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)
