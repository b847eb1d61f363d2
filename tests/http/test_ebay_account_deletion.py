"""eBay Marketplace Account Deletion over HTTP: challenge, signed notifications, erasure."""

from __future__ import annotations

import hashlib
import logging

import httpx
import pytest

from pipeline.http.app import EBAY_ACCOUNT_DELETION_PATH, create_app
from pipeline.http.asgi import Router
from pipeline.http.ebay_deletion import challenge_response
from tests.fixtures.runtime import Deployment
from tests.http.conftest import (
    EIAS,
    ENDPOINT_URL,
    IDENTIFIERS,
    USER_ID,
    USERNAME,
    VERIFICATION_TOKEN,
    Service,
)
from tests.http.ebay_fakes import KeyServer, SigningKey, notification
from tests.retention.helpers import audit_events, audit_text, readable

pytestmark = pytest.mark.anyio

NOTIFICATION_ID = "49feeaeb-4982-42d9-a377-9645b8479411"
CHALLENGE_CODE = "a8628072-3d33-4a0f-8ab6-1b1a2e9c1d7d"
# printf '%s' "$CHALLENGE_CODE$VERIFICATION_TOKEN$ENDPOINT_URL" | sha256sum
CHALLENGE_ANSWER = "5c5e11689054b6049aac3218c148c19240880da7d829eeeb964339bcc3cacb2c"


def client(app: Router) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ov.test")


async def post(app: Router, body: bytes, signature: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-EBAY-SIGNATURE"] = signature
    async with client(app) as http:
        return await http.post(EBAY_ACCOUNT_DELETION_PATH, content=body, headers=headers)


def user_notification(notification_id: str = NOTIFICATION_ID) -> bytes:
    return notification(notification_id, user_id=USER_ID, username=USERNAME, eias_token=EIAS)


def readable_by_name(deployment: Deployment, orders: dict[str, int]) -> dict[str, bool]:
    return {name: readable(deployment, order_id) for name, order_id in orders.items()}


def assert_no_identifiers(text: str) -> None:
    for identifier in IDENTIFIERS:
        assert identifier.lower() not in text.lower()


def outcomes(deployment: Deployment) -> list[str]:
    return [e.details["outcome"] for e in audit_events(deployment, "ebay_account_deletion")]


async def test_challenge_answers_ebays_hash_of_code_token_and_endpoint(service: Service) -> None:
    assert challenge_response(CHALLENGE_CODE, VERIFICATION_TOKEN, ENDPOINT_URL) == (
        hashlib.sha256((CHALLENGE_CODE + VERIFICATION_TOKEN + ENDPOINT_URL).encode()).hexdigest()
    )
    async with client(service.app()) as http:
        answer = await http.get(
            EBAY_ACCOUNT_DELETION_PATH, params={"challenge_code": CHALLENGE_CODE}
        )
        missing = await http.get(EBAY_ACCOUNT_DELETION_PATH)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"challengeResponse": CHALLENGE_ANSWER}
    assert missing.status_code == 400


async def test_without_ebay_notifications_the_path_does_not_exist(deployment: Deployment) -> None:
    async with client(create_app(deployment.runtime)) as http:
        get = await http.get(EBAY_ACCOUNT_DELETION_PATH, params={"challenge_code": "x"})
        post_ = await http.post(EBAY_ACCOUNT_DELETION_PATH, content=b"{}")
    assert (get.status_code, post_.status_code) == (404, 404)


async def test_signed_notification_erases_the_users_orders_in_every_client(
    service: Service,
    orders: dict[str, int],
    deployment: Deployment,
    signing_key: SigningKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    body = user_notification()
    response = await post(service.app(), body, signing_key.sign(body))

    assert response.status_code == 204
    # Acknowledged first; the erasure is a message a worker runs.
    assert all(readable_by_name(deployment, orders).values())
    service.drain()
    assert readable_by_name(deployment, orders) == {
        name: not name.startswith("user_") for name in orders
    }

    # One message per client with an index key (initech has none), holding digests only.
    assert [sent[0] for sent in service.sent] == ["acme", "globex"]
    for _, digests, notification_id in service.sent:
        assert set(digests) == {"buyer_id", "username", "eias_token"}
        assert notification_id == NOTIFICATION_ID
    assert_no_identifiers(repr(service.sent))
    assert service.runtime.keystore.index_key("initech") is None

    events = audit_events(deployment, "ebay_account_deletion")
    (accepted,) = [e for e in events if e.details["outcome"] == "accepted"]
    assert accepted.details["notification_id"] == NOTIFICATION_ID
    assert accepted.details["clients"] == ["acme", "globex"]
    assert accepted.details["erase_messages"] == 2
    erased = {
        e.client_id: e.subject["order_ids"] for e in events if e.details["outcome"] == "erased"
    }
    assert erased == {
        "acme": sorted([orders["user_acme_all_ids"], orders["user_acme_username"]]),
        "globex": [orders["user_globex_eias"]],
    }
    assert_no_identifiers(audit_text(deployment))
    assert_no_identifiers(caplog.text)

    # eBay re-sends what it thinks was lost: acknowledged again, nothing more to erase.
    again = await post(service.app(), body, signing_key.sign(body))
    assert again.status_code == 204
    service.drain()
    assert outcomes(deployment).count("erased") == 4
    latest = audit_events(deployment, "ebay_account_deletion")[-2:]
    assert [e.details["orders_erased"] for e in latest] == [0, 0]
    assert readable(deployment, orders["other_acme"])


FORGED = ["missing", "malformed", "wrong_key", "tampered", "unknown_key"]


@pytest.mark.parametrize("forgery", FORGED)
async def test_forged_notification_is_refused_and_erases_nothing(
    forgery: str,
    service: Service,
    orders: dict[str, int],
    deployment: Deployment,
    signing_key: SigningKey,
) -> None:
    body = user_notification()
    signature: str | None
    if forgery == "missing":
        signature, reason = None, "missing_signature"
    elif forgery == "malformed":
        signature, reason = "eyJhbGciOiJFQ0RTQSJ9", "malformed_signature"  # {"alg":"ECDSA"}
    elif forgery == "wrong_key":
        # The right key id, someone else's key.
        signature = SigningKey(signing_key.kid).sign(body)
        reason = "bad_signature"
    elif forgery == "tampered":
        # eBay signed a notice about someone else; the body was changed to name our user.
        signed = notification(NOTIFICATION_ID, username="someone_else")
        signature, reason = signing_key.sign(signed), "bad_signature"
    else:
        signature = SigningKey("0000unknown0000").sign(body)
        reason = "unknown_key"

    response = await post(service.app(), body, signature)

    assert response.status_code == 412
    service.drain()
    assert service.sent == []
    assert all(readable_by_name(deployment, orders).values())
    (event,) = audit_events(deployment, "ebay_account_deletion")
    assert event.details == {
        "notification_id": NOTIFICATION_ID,
        "outcome": "rejected",
        "reason": reason,
    }
    assert_no_identifiers(audit_text(deployment))


async def test_unreachable_key_service_defers_without_erasing(
    service: Service, orders: dict[str, int], deployment: Deployment, signing_key: SigningKey
) -> None:
    body = user_notification()
    # eBay refuses our application token: the signature cannot be checked now.
    response = await post(service.app(app_token="revoked"), body, signing_key.sign(body))
    assert response.status_code == 503
    assert service.sent == []
    assert all(readable_by_name(deployment, orders).values())
    assert outcomes(deployment) == ["deferred"]


async def test_signed_notification_of_another_topic_is_refused(
    service: Service, orders: dict[str, int], deployment: Deployment, signing_key: SigningKey
) -> None:
    body = notification(NOTIFICATION_ID, username=USERNAME, topic="ITEM_PRICE_REVISION")
    response = await post(service.app(), body, signing_key.sign(body))
    assert response.status_code == 400
    assert service.sent == []
    assert outcomes(deployment) == ["invalid"]


async def test_signing_keys_are_fetched_once_per_key_id(
    service: Service, orders: dict[str, int], signing_key: SigningKey, ebay_keys: KeyServer
) -> None:
    app = service.app()
    for n in range(3):
        body = user_notification(f"{NOTIFICATION_ID[:-1]}{n}")
        assert (await post(app, body, signing_key.sign(body))).status_code == 204
    assert ebay_keys.lookups == [signing_key.kid]
