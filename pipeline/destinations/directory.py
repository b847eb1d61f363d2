"""Directory destination: JSON Lines files in a local folder, complete or absent, mode 0600.

Each file is written under a temporary name, flushed to disk (fsync), then renamed: a reader
sees either no file or the whole file, even after a power cut. The folder is fsynced too, so
the rename itself survives one. The files hold PII, hence 0600 and a 0700 folder.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pipeline.clients import DirectoryDestination
from pipeline.destinations.base import Destination, OutgoingOrder, TransportError, chunks
from pipeline.destinations.files import batch_file_name, jsonl_bytes, temporary_name

log = logging.getLogger(__name__)

FILE_MODE = 0o600
FOLDER_MODE = 0o700
# Retrying cannot fix these; someone must change the folder or the config.
_PERMANENT = (PermissionError, NotADirectoryError, IsADirectoryError, FileExistsError)


class Directory(Destination):
    transport = "local directory"

    def __init__(
        self, config: DirectoryDestination, *, clock_s: Callable[[], float] = time.time
    ) -> None:
        self.name = config.name
        self.batch_size = config.batch_size
        self.folder = Path(config.path)
        self._clock_s = clock_s

    def send(self, batch: Sequence[OutgoingOrder]) -> None:
        for chunk in chunks(batch, self.batch_size):
            name = batch_file_name(chunk, now_s=self._clock_s(), extension="jsonl")
            try:
                self._write(name, jsonl_bytes(chunk))
            except OSError as exc:
                message = (
                    f"directory {self.name}: cannot write to {self.folder} ({type(exc).__name__})"
                )
                log.warning("%s", message)
                raise TransportError(message, permanent=isinstance(exc, _PERMANENT)) from None
            log.info("directory %s: %d order(s) written to %s", self.name, len(chunk), name)

    def _write(self, name: str, data: bytes) -> None:
        self.folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
        temporary = self.folder / temporary_name(name)
        descriptor = os.open(
            temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE
        )
        try:
            try:
                os.fchmod(descriptor, FILE_MODE)  # the umask may only remove bits; be exact
                view = memoryview(data)
                while view:
                    view = view[os.write(descriptor, view) :]
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            os.replace(temporary, self.folder / name)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        _fsync_folder(self.folder)


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
