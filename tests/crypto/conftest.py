"""Fixtures of the crypto suite. Named here until tests/conftest.py lists the plugin."""

from tests.fixtures.keystore import make_vault, root_key, sql_keystore, sqlite_keystore

__all__ = ["make_vault", "root_key", "sql_keystore", "sqlite_keystore"]
