"""crypto/_aead.c under valgrind memcheck: no invalid read or write, no use of uninitialised
memory, on every path the tests reach (round trips, the heap record-AD buffer, refusals).

This Python build is not valgrind-clean on its own (finalisation, without the CPython
suppression file), so the test fails only on an error whose stack passes through the
extension or libcrypto. Skipped where valgrind is not installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from crypto import _format

CRYPTO_DIR = Path(_format.__file__).resolve().parent
DRIVER = Path(__file__).with_name("memcheck_driver.py")
ERROR_START = re.compile(r"^==\d+== (Invalid|Use of|Conditional|Syscall|Mismatched|Source)")


def _error_reports(valgrind_output: str) -> list[str]:
    """valgrind's error reports: a headline, then stack lines, then a blank `==pid==` line."""
    reports: list[str] = []
    for line in valgrind_output.splitlines():
        if ERROR_START.match(line):
            reports.append(line)
        elif reports and re.match(r"^==\d+==\s+(at|by) ", line):
            reports[-1] += "\n" + line
    return reports


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
@pytest.mark.skipif(_format.native is None, reason="crypto._aead is not built")
def test_the_extension_is_memcheck_clean() -> None:
    result = subprocess.run(
        [
            "valgrind",
            "--tool=memcheck",
            "--leak-check=no",
            sys.executable,
            str(DRIVER),
            str(CRYPTO_DIR),
        ],
        # pymalloc's arenas hide heap errors from valgrind; the system allocator shows them.
        env={**os.environ, "PYTHONMALLOC": "malloc"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.stdout.strip().endswith("ok"), result.stderr[-3000:]
    ours = [
        report
        for report in _error_reports(result.stderr)
        if "_aead" in report or "libcrypto" in report
    ]
    assert not ours, "\n\n".join(ours)
