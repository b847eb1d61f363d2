"""What both Alembic `env.py` files do: run the migrations on the connection they are given.

`storage.migrate` opens the connection (foreign keys off on SQLite, one transaction, a lock
against concurrent upgrades) and passes it in `config.attributes["connection"]`. Without one,
as under the `alembic` command line, a connection is opened from `sqlalchemy.url`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context


def run(target_metadata: sa.MetaData, *, keystore: bool) -> None:
    if context.is_offline_mode():
        raise RuntimeError("offline (--sql) migrations are not supported; run them on a database")
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run_on(connection, target_metadata)
        return

    from storage.db import create_engine

    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url, or run migrations through storage.migrate")
    engine = create_engine(url, keystore=keystore)
    try:
        with engine.connect() as connection:
            _run_on(connection, target_metadata)
            connection.commit()
    finally:
        engine.dispose()


def _run_on(connection: sa.Connection, target_metadata: sa.MetaData) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode recreates the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        # With SQLAlchemy emitting BEGIN itself (storage.db), SQLite DDL is transactional too:
        # a failed upgrade leaves the schema as it was.
        transactional_ddl=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
