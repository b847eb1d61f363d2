"""SFTP destination (SSH-2 only, via paramiko): one file per batch, JSON Lines or CSV.

Each `send` opens one SSH connection, checks the server's host key against the pinned one
before authenticating (so the client key never talks to an impostor), writes every file of
the batch, and closes. A file is written under a hidden temporary name with mode 0600, its
size checked, then renamed (posix-rename, atomic on OpenSSH), so the client's importer never
picks up half a file. Batches are minutes apart, so a connection per send costs little and
never finds a connection the server dropped while idle.
"""

from __future__ import annotations

import contextlib
import logging
import posixpath
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

import paramiko

from pipeline.clients import SftpDestination
from pipeline.destinations.base import Destination, OutgoingOrder, TransportError, chunks
from pipeline.destinations.csv_format import csv_bytes
from pipeline.destinations.files import batch_file_name, jsonl_bytes, temporary_name
from pipeline.destinations.ssh_keys import PinnedHostKey, fingerprint, load_private_key

log = logging.getLogger(__name__)

FILE_MODE = 0o600
_ENCODERS: dict[str, Callable[[Sequence[OutgoingOrder]], bytes]] = {
    "jsonl": jsonl_bytes,
    "csv": csv_bytes,
}


class Sftp(Destination):
    transport = "sftp (SSH-2), pinned host key"

    def __init__(
        self, config: SftpDestination, *, clock_s: Callable[[], float] = time.time
    ) -> None:
        self.name = config.name
        self.batch_size = config.batch_size
        self.format = config.format
        self._config = config
        self._address = f"{config.host}:{config.port}"
        # Both keys are checked now, so a bad config fails at start-up rather than per send.
        self._host_key = PinnedHostKey.parse(config.host_key)
        self._client_key = load_private_key(config.private_key.reveal())
        self._clock_s = clock_s

    def send(self, batch: Sequence[OutgoingOrder]) -> None:
        if not batch:
            return
        encode = _ENCODERS[self.format]
        transport: Any = None
        try:
            transport = self._connect()
            sftp = paramiko.SFTPClient.from_transport(transport)
            sftp.get_channel().settimeout(self._config.timeout_s)
            for chunk in chunks(batch, self.batch_size):
                name = batch_file_name(chunk, now_s=self._clock_s(), extension=self.format)
                self._upload(sftp, name, encode(chunk))
                log.info("sftp %s: %d order(s) written to %s", self.name, len(chunk), name)
        except TransportError as exc:
            raise self._failed(exc) from None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise self._failed(self._classify(exc)) from None
        finally:
            if transport is not None:
                transport.close()

    def _connect(self) -> Any:
        timeout_s = self._config.timeout_s
        sock = socket.create_connection((self._config.host, self._config.port), timeout=timeout_s)
        transport = paramiko.Transport(sock)
        try:
            transport.banner_timeout = transport.handshake_timeout = timeout_s
            transport.auth_timeout = timeout_s
            transport.get_security_options().key_types = list(self._host_key.algorithms)
            transport.start_client(timeout=timeout_s)
            presented = transport.get_remote_server_key().asbytes()
            if not self._host_key.matches(presented):
                raise TransportError(
                    f"host key of {self._address} does not match the pinned key "
                    f"(pinned {self._host_key.fingerprint}, presented {fingerprint(presented)})",
                    permanent=True,
                )
            transport.auth_publickey(self._config.username, self._client_key)
            if not transport.is_authenticated():  # the server wants a second factor
                raise TransportError(
                    f"{self._address} asks for more than a public key", permanent=True
                )
        except BaseException:
            transport.close()
            raise
        return transport

    def _upload(self, sftp: Any, name: str, data: bytes) -> None:
        final = posixpath.join(self._config.remote_dir, name)
        temporary = posixpath.join(self._config.remote_dir, temporary_name(name))
        try:
            with sftp.open(temporary, "wb") as remote:
                remote.chmod(FILE_MODE)  # before any byte of PII is in it
                remote.set_pipelined(True)
                remote.write(data)
            size = sftp.stat(temporary).st_size
            if size != len(data):
                raise TransportError(f"upload to {self._address} incomplete ({size} bytes)")
            try:
                sftp.posix_rename(temporary, final)
            except OSError as exc:
                if exc.errno is not None:
                    raise
                sftp.rename(temporary, final)  # server without the posix-rename extension
        except BaseException:
            _remove_quietly(sftp, temporary)
            raise

    def _classify(self, exc: BaseException) -> TransportError:
        kind = type(exc).__name__
        if isinstance(exc, paramiko.AuthenticationException):
            return TransportError(
                f"{self._address} refused the key for {self._config.username} ({kind})",
                permanent=True,
            )
        if isinstance(exc, paramiko.IncompatiblePeer) and "host key" in str(exc):
            return TransportError(
                f"host key of {self._address} does not match the pinned key "
                f"(no {self._host_key.key_type} host key offered)",
                permanent=True,
            )
        if isinstance(exc, PermissionError | FileNotFoundError | NotADirectoryError):
            return TransportError(
                f"cannot write to {self._config.remote_dir!r} on {self._address} ({kind})",
                permanent=True,
            )
        if isinstance(exc, TimeoutError):
            return TransportError(
                f"no answer from {self._address} within {self._config.timeout_s:g} s ({kind})"
            )
        return TransportError(f"cannot deliver to {self._address} ({kind})")

    def _failed(self, exc: TransportError) -> TransportError:
        error = TransportError(f"sftp {self.name}: {exc.message}", exc.permanent, exc.retry_after_s)
        log.warning("%s", error.message)
        return error


def _remove_quietly(sftp: Any, path: str) -> None:
    # The connection is likely gone already; a stray hidden .part file is harmless.
    with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
        sftp.remove(path)
