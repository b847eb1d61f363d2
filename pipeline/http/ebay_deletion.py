"""The eBay Marketplace Account Deletion endpoint: challenge, then signed notifications.

`GET ?challenge_code=X` proves to eBay that we hold the verification token. `POST` carries a
signed notification: verified, turned into blind-index digests per client, one `erase_account`
message per client enqueued, acknowledged (204). The erasure runs in a worker moments later;
answering first is what eBay asks for, and the message holds digests and the notification id,
never the user's identifiers (see `pipeline.jobs.account_deletion`).

Every POST is audited (`ebay_account_deletion`): accepted with the clients and message count,
or refused with a fixed reason. The user's identifiers appear in neither.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

from pipeline.http.asgi import Request, Response
from pipeline.http.ebay_keys import KeyUnavailableError, PublicKeyCache
from pipeline.http.ebay_signature import SIGNATURE_HEADER, SignatureError, verify
from pipeline.jobs.account_deletion import (
    AUDIT_ACTION,
    AUDIT_ACTOR,
    EbayAccount,
    account_digests,
    valid_notification_id,
)
from pipeline.runtime import Runtime
from pipeline.secrets import Secret
from storage import audit, write_session

__all__ = ["TOPIC", "EbayAccountDeletionEndpoint", "EraseSender", "challenge_response"]

log = logging.getLogger(__name__)

TOPIC = "MARKETPLACE_ACCOUNT_DELETION"
_MAX_CHALLENGE_CHARS = 1024

# (client id, digests by kind, notification id): sends one `erase_account` message.
EraseSender = Callable[[str, dict[str, str], str], Any]


def challenge_response(challenge_code: str, verification_token: str, endpoint_url: str) -> str:
    """eBay's endpoint check: hex SHA-256 of code, token and endpoint URL, concatenated."""
    digest = hashlib.sha256()
    digest.update(challenge_code.encode())
    digest.update(verification_token.encode())
    digest.update(endpoint_url.encode())
    return digest.hexdigest()


class _Invalid(Exception):
    """A correctly signed body that is not an account-deletion notification we can act on."""


def _parse(body: bytes) -> tuple[str, EbayAccount]:
    try:
        document = json.loads(body)
        topic = document["metadata"]["topic"]
        notification = document["notification"]
        notification_id = notification["notificationId"]
        data = notification["data"]
    except (ValueError, KeyError, TypeError):
        raise _Invalid from None
    if topic != TOPIC or not valid_notification_id(notification_id) or not isinstance(data, dict):
        raise _Invalid

    def text(name: str) -> str | None:
        value = data.get(name)
        if value is not None and not isinstance(value, str | int):
            raise _Invalid
        return None if value in (None, "") else str(value)

    account = EbayAccount(
        user_id=text("userId"), username=text("username"), eias_token=text("eiasToken")
    )
    return notification_id, account


def _claimed_id(body: bytes) -> str | None:
    """The notification id an unverified body claims, if it looks like one (for the audit)."""
    try:
        value = json.loads(body)["notification"]["notificationId"]
    except (ValueError, KeyError, TypeError):
        return None
    return value if valid_notification_id(value) else None


class EbayAccountDeletionEndpoint:
    def __init__(
        self,
        runtime: Runtime,
        *,
        endpoint_url: str,
        verification_token: Secret,
        keys: PublicKeyCache,
        send_erase: EraseSender,
    ) -> None:
        self._runtime = runtime
        self._endpoint_url = endpoint_url
        self._token = verification_token
        self._keys = keys
        self._send_erase = send_erase

    async def challenge(self, request: Request) -> Response:
        code = request.query_value("challenge_code")
        if not code or len(code) > _MAX_CHALLENGE_CHARS:
            return Response.json(400, {"error": "challenge_code is required"})
        answer = challenge_response(code, self._token.reveal(), self._endpoint_url)
        return Response.json(200, {"challengeResponse": answer})

    async def notify(self, request: Request) -> Response:
        try:
            await verify(request.headers.get(SIGNATURE_HEADER), request.body, self._keys)
        except SignatureError as exc:
            await self._audit(
                "rejected", _claimed_id(request.body), {"reason": exc.rejection.value}
            )
            log.warning("eBay account deletion refused: %s", exc.rejection.value)
            return Response.json(412, {"error": "signature verification failed"})
        except KeyUnavailableError as exc:
            await self._audit("deferred", _claimed_id(request.body), {"reason": "key_unavailable"})
            log.warning("eBay account deletion deferred: %s", exc)
            return Response.json(503, {"error": "signing key unavailable, retry later"})
        try:
            notification_id, account = _parse(request.body)
        except _Invalid:
            await self._audit("invalid", _claimed_id(request.body), {})
            return Response.json(400, {"error": "not a marketplace account deletion notification"})
        await asyncio.to_thread(self._accept, notification_id, account)
        return Response.empty(204)

    def _accept(self, notification_id: str, account: EbayAccount) -> None:
        digests = account_digests(self._runtime, account)
        for client_id, by_kind in digests.items():
            self._send_erase(client_id, by_kind, notification_id)
        self._audit_sync(
            "accepted",
            notification_id,
            {
                "clients": sorted(digests),
                "erase_messages": len(digests),
                "identifier_kinds": sorted(account.by_kind()),
            },
        )
        log.info(
            "eBay account deletion %s accepted: erasure enqueued for %d client(s)",
            notification_id,
            len(digests),
        )

    async def _audit(
        self, outcome: str, notification_id: str | None, extra: dict[str, Any]
    ) -> None:
        await asyncio.to_thread(self._audit_sync, outcome, notification_id, extra)

    def _audit_sync(self, outcome: str, notification_id: str | None, extra: dict[str, Any]) -> None:
        with write_session(self._runtime.sessions) as session:
            audit.append(
                session,
                actor=AUDIT_ACTOR,
                action=AUDIT_ACTION,
                subject={"notification_id": notification_id},
                details={"notification_id": notification_id, "outcome": outcome, **extra},
                now=self._runtime.clock(),
            )
