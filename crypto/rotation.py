"""Root-key rotation: rewrap every stored bucket and index key from one root to another.

Only the 32-byte keys in the key store change; data keys and ciphertext are untouched. Each row
records the root that wraps it and is switched by compare-and-set, so a rotation interrupted at
any point resumes where it stopped, and processes keep working throughout as long as their
keyring holds both roots. `root_rotations` records each rotation from start to finish.

Operator flow (`ordervault keys rotate-root`, local provider)::

    keyring = load_local_root_keyring(path)
    if not finish_root_rotations(keystore, keyring):      # nothing was left half-done
        stage_local_root_rotation(path)                   # new root.key, old one retired
        finish_root_rotations(keystore, load_local_root_keyring(path))
    discard_retired_local_root_keys(path, keystore)
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from crypto import _format
from crypto.errors import DecryptError, RotationError
from crypto.keystore import KeyStore
from crypto.roots.base import RootKeyProvider, RootKeyring

__all__ = ["RotationReport", "finish_root_rotations", "rotate_root"]

_BATCH_ROWS = 200


@dataclass(frozen=True, slots=True)
class RotationReport:
    rotation_id: int
    from_root_key_id: str
    to_root_key_id: str
    bucket_keys_rewrapped: int
    index_keys_rewrapped: int
    resumed: bool


def _utc(clock_s: Callable[[], float]) -> datetime:
    return datetime.fromtimestamp(clock_s(), UTC)


def rotate_root(
    keystore: KeyStore,
    old: RootKeyProvider,
    new: RootKeyProvider,
    *,
    clock_s: Callable[[], float] = time.time,
) -> RotationReport:
    """Rewrap every active bucket key and every index key wrapped under `old` with `new`.

    Resumes an unfinished rotation between the same two roots. Raises RotationError if another
    rotation is unfinished, or if a stored key does not open under `old` (the rotation then
    stays 'running'; fix the cause and call again).
    """
    if old.root_key_id == new.root_key_id:
        raise RotationError(f"old and new root are the same key ({old.root_key_id})")
    running = keystore.running_rotations()
    pair = (old.root_key_id, new.root_key_id)
    for other in running:
        if (other.from_root_key_id, other.to_root_key_id) != pair:
            raise RotationError(
                f"rotation {other.id} from {other.from_root_key_id} to {other.to_root_key_id}"
                " is unfinished; finish it first"
            )
    resumed = bool(running)
    rotation = running[0] if running else keystore.start_rotation(*pair, _utc(clock_s))
    buckets = _rewrap_buckets(keystore, old, new)
    index_keys = _rewrap_index_keys(keystore, old, new)
    keystore.finish_rotation(rotation.id, _utc(clock_s))
    return RotationReport(rotation.id, *pair, buckets, index_keys, resumed)


def _rewrap_buckets(keystore: KeyStore, old: RootKeyProvider, new: RootKeyProvider) -> int:
    rewrapped = 0
    # Each pass sees only rows still under `old`: a row rewrapped (or destroyed) meanwhile drops
    # out, so the loop ends, and a crash loses at most the row in flight.
    while rows := keystore.buckets_wrapped_under(old.root_key_id, _BATCH_ROWS):
        for row in rows:
            if row.wrapped_key is None:
                continue
            context = _format.bucket_root_context(row.client_id, row.day, row.key_id)
            try:
                raw_key = old.unwrap_key(row.wrapped_key, context)
            except DecryptError:
                raise RotationError(
                    f"bucket key {row.key_id} does not open under {old.root_key_id}"
                ) from None
            expected = _format.key_commitment(raw_key, row.client_id, row.day, row.key_id)
            if not hmac.compare_digest(expected, row.commitment):
                raise RotationError(f"bucket key {row.key_id} does not match its commitment")
            wrapped = new.wrap_key(raw_key, context)
            if keystore.replace_bucket_wrapping(
                row.key_id, old.root_key_id, new.root_key_id, wrapped
            ):
                rewrapped += 1
    return rewrapped


def _rewrap_index_keys(keystore: KeyStore, old: RootKeyProvider, new: RootKeyProvider) -> int:
    rewrapped = 0
    while rows := keystore.index_keys_wrapped_under(old.root_key_id, _BATCH_ROWS):
        for row in rows:
            context = _format.index_root_context(row.client_id, row.key_id)
            try:
                raw_key = old.unwrap_key(row.wrapped_key, context)
            except DecryptError:
                raise RotationError(
                    f"index key of client {row.client_id!r} does not open under {old.root_key_id}"
                ) from None
            wrapped = new.wrap_key(raw_key, context)
            if keystore.replace_index_key_wrapping(
                row.client_id, old.root_key_id, new.root_key_id, wrapped
            ):
                rewrapped += 1
    return rewrapped


def finish_root_rotations(
    keystore: KeyStore, keyring: RootKeyring, *, clock_s: Callable[[], float] = time.time
) -> list[RotationReport]:
    """Complete whatever is pending: resume unfinished rotations, then rewrap every key still
    under a retired root of `keyring` into its current root. Returns one report per rotation
    run; an empty list means nothing was pending."""
    reports = [
        rotate_root(
            keystore,
            keyring.provider(running.from_root_key_id),
            keyring.provider(running.to_root_key_id),
            clock_s=clock_s,
        )
        for running in keystore.running_rotations()
    ]
    current = keyring.current
    for root_key_id in keyring.root_key_ids:
        if root_key_id != current.root_key_id and keystore.count_wrapped_under(root_key_id):
            reports.append(
                rotate_root(keystore, keyring.provider(root_key_id), current, clock_s=clock_s)
            )
    return reports
