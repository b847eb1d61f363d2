"""Shared fixtures. Each area keeps its fixtures in its own plugin module, listed here."""

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.databases",
    "tests.fixtures.runtime",
    "tests.fixtures.sshd",
]
