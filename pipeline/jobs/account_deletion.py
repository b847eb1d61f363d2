"""eBay Marketplace Account Deletion: erase one eBay user's orders in every client, by digest.

eBay names the user by three identifiers (immutable user id, username, EIAS token), each PII.
The HTTP endpoint turns them into blind-index digests per client at once (`account_digests`)
and sends one `erase_account` message per client that may hold the user's orders. A message
carries the client id, the digests and eBay's notification id, never an identifier: a digest
is an HMAC under the client's index key, useless to anyone who does not hold that key, and it
dies with the index rows the erasure deletes.

The actor is idempotent (an erased order is no longer indexed, so a repeated message finds
nothing) and audits each run as an `ebay_account_deletion` event with order ids and counts.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import dramatiq

from pipeline.runtime import Runtime
from storage import audit, find_order_ids_by_blind_index, mark_shredded, write_session

__all__ = [
    "AUDIT_ACTION",
    "AUDIT_ACTOR",
    "ERASE_ACCOUNT_ACTOR",
    "ActorHost",
    "EbayAccount",
    "account_digests",
    "erase_account",
    "register_account_deletion_actor",
    "valid_notification_id",
]

log = logging.getLogger(__name__)

ERASE_ACCOUNT_ACTOR = "erase_account"
AUDIT_ACTION = "ebay_account_deletion"
AUDIT_ACTOR = "ebay:account-deletion"
ERASED_REASON = "erased"

# The blind-index kinds eBay's three identifiers are stored under (see pipeline.ingest).
INDEX_KINDS = frozenset({"buyer_id", "username", "eias_token"})
_DIGEST = re.compile(r"[0-9a-f]{64}")
# eBay's notification ids are UUIDs; anything else is refused before it reaches a log or message.
_NOTIFICATION_ID = re.compile(r"[A-Za-z0-9._-]{1,100}")

_OPTIONS: dict[str, Any] = {
    "max_retries": 0,  # eBay re-sends an unacknowledged notification; the actor is idempotent
    "time_limit": 10 * 60 * 1000,  # ms
    "max_age": 7 * 24 * 3600 * 1000,  # ms; an erasure must not be dropped for being late
}


def valid_notification_id(value: object) -> bool:
    return isinstance(value, str) and _NOTIFICATION_ID.fullmatch(value) is not None


@dataclass(frozen=True)
class EbayAccount:
    """The user an account-deletion notification names. Every field is PII: never shown."""

    user_id: str | None
    username: str | None
    eias_token: str | None

    def by_kind(self) -> dict[str, str]:
        """The present identifiers, by blind-index kind."""
        found = {
            "buyer_id": self.user_id,
            "username": self.username,
            "eias_token": self.eias_token,
        }
        return {kind: value for kind, value in found.items() if value}

    def __repr__(self) -> str:
        return "EbayAccount(<redacted>)"


def account_digests(runtime: Runtime, account: EbayAccount) -> dict[str, dict[str, str]]:
    """Blind-index digests of the account's identifiers, per configured client, by kind.

    A client without an index key has never indexed an order, so it holds none of the user's
    data; it is skipped rather than given a key as a side effect of a lookup.
    """
    identifiers = account.by_kind()
    result: dict[str, dict[str, str]] = {}
    if not identifiers:
        return result
    for client_id in sorted(runtime.config.clients):
        if runtime.keystore.index_key(client_id) is None:
            continue
        result[client_id] = {
            kind: runtime.vault.blind_index(client_id, kind, value)
            for kind, value in identifiers.items()
        }
    return result


def erase_account(
    runtime: Runtime, client_id: str, digests: Mapping[str, str], notification_id: str
) -> list[int]:
    """Drop the PII of the client's orders matching any digest at once; audited. Idempotent."""
    if not valid_notification_id(notification_id):
        raise ValueError("notification id must be 1-100 characters of [A-Za-z0-9._-]")
    for kind, digest in digests.items():
        if kind not in INDEX_KINDS or not _DIGEST.fullmatch(digest):
            raise ValueError(f"not an eBay identifier digest (kind {kind!r})")
    now = runtime.clock()
    erased: list[int] = []
    with write_session(runtime.sessions) as session:
        order_ids: set[int] = set()
        for kind, digest in digests.items():
            order_ids.update(find_order_ids_by_blind_index(session, client_id, kind, digest))
        for order_id in sorted(order_ids):
            if mark_shredded(session, order_id, reason=ERASED_REASON, now=now):
                erased.append(order_id)
        audit.append(
            session,
            actor=AUDIT_ACTOR,
            action=AUDIT_ACTION,
            client_id=client_id,
            subject={"order_ids": erased},
            details={
                "notification_id": notification_id,
                "outcome": "erased",
                "identifier_kinds": sorted(digests),
                "orders_erased": len(erased),
            },
            now=now,
        )
    return erased


class ActorHost(Protocol):
    """What the actor needs: `pipeline.jobs.actors.Jobs`, or the HTTP endpoint's own host."""

    @property
    def broker(self) -> dramatiq.Broker: ...

    @property
    def runtime(self) -> Runtime: ...


def register_account_deletion_actor(
    jobs: ActorHost,
) -> dramatiq.Actor[[str, dict[str, str], str], None]:
    """Create the `erase_account` actor on `jobs.broker`; call once per broker and process.

    Workers get it from `Jobs.__post_init__`; `ordervault serve` registers it on its own
    broker to send (and, with the inline broker, to run) the erasures it accepts.
    """
    # Imported here: pipeline.jobs.actors imports this module to register the actor.
    from pipeline.jobs.actors import MAINTENANCE_QUEUE

    def erase(client_id: str, digests: dict[str, str], notification_id: str) -> None:
        if client_id not in jobs.runtime.config.clients:
            log.warning("erase_account for %s skipped: client not configured", client_id)
            return
        erased = erase_account(jobs.runtime, client_id, digests, notification_id)
        log.info(
            "eBay account deletion %s: %d order(s) of %s erased",
            notification_id,
            len(erased),
            client_id,
        )

    return dramatiq.Actor(
        erase,
        broker=jobs.broker,
        actor_name=ERASE_ACCOUNT_ACTOR,
        queue_name=MAINTENANCE_QUEUE,
        priority=5,  # ahead of sweep and expire on the same queue
        options=dict(_OPTIONS),
    )
