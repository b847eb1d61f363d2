"""What the file destinations (directory, SFTP) write: file names and JSON Lines bodies.

A file holds one batch. Its name starts with the UTC time of writing, so consumers that read a
folder in name order read it in delivery order, and ends with the start of the batch's
idempotency key, so two batches written in the same second never collide. Until it is
complete a file carries a hidden temporary name (leading dot, `.part`), which consumers
globbing `*.jsonl` or `*.csv` do not see; the rename to the final name is atomic.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from pipeline.destinations.base import OutgoingOrder, batch_idempotency_key


def encode_json(document: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON on one line, for order documents.

    orjson writes the same bytes as `json.dumps(..., ensure_ascii=False, separators=(",", ":"))`
    at a tenth of the cost. Order documents hold no floats (money is a decimal string, and the
    schema has no number type), so orjson writing a NaN as null cannot arise from them; what
    orjson refuses (a non-string key, an integer beyond 64 bits) goes through `json` instead.
    """
    try:
        return orjson.dumps(document)
    except orjson.JSONEncodeError:
        text = json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return text.encode("utf-8")


def jsonl_bytes(batch: Sequence[OutgoingOrder]) -> bytes:
    """One order document per line, each line ending in a newline."""
    return b"".join(encode_json(order.document) + b"\n" for order in batch)


def batch_file_name(batch: Sequence[OutgoingOrder], *, now_s: float, extension: str) -> str:
    """`orders-<YYYYMMDDTHHMMSSZ>-<16 hex of the batch key>.<extension>`."""
    stamp = datetime.fromtimestamp(now_s, UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"orders-{stamp}-{batch_idempotency_key(batch)[:16]}.{extension}"


def temporary_name(final_name: str) -> str:
    """A hidden name for the file while it is written; random, so two writers never share one."""
    return f".{final_name}.{secrets.token_hex(4)}.part"
