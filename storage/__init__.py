"""Database models, migrations, repositories, the key store and the audit log."""
