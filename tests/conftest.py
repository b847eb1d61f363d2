"""Shared fixtures. Each area keeps its fixtures in its own plugin module, listed here."""

import os

from hypothesis import settings

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.databases",
    "tests.fixtures.runtime",
    "tests.fixtures.sshd",
    "tests.fixtures.marketplaces",
    "tests.fixtures.keystore",
]

# CI explores the same examples on every run, so a red build is reproducible and never flaky;
# local runs keep exploring new ones (and the example database replays what failed).
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
