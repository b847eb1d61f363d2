"""Alembic environments: `data/` for the data database, `keystore/` for the key store."""
