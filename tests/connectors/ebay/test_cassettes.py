"""Recorded GetOrders traffic (vcrpy), replayed without any network in CI.

The cassettes were recorded against the fake Trading API; re-record them with
`ORDERVAULT_RECORD_CASSETTES=1 pytest tests/connectors/ebay/test_cassettes.py`. Requests are
matched on method, path, the X-EBAY-API-CALL-NAME header and the page number in the XML body,
so a connector that asks for other pages (or another call) fails loudly. Tokens and application
keys are redacted from headers and body before anything is written.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import vcr
from vcr.errors import CannotOverwriteExistingCassetteException

from connectors.ebay import AccountNeedsAttention
from connectors.fakes.ebay_trading import DEFAULT_KEYS, EbayAccountSpec, EbayFault, FakeEbayTrading
from tests.connectors.ebay.helpers import (
    AUTH_N_AUTH_TOKEN,
    OAUTH_TOKEN,
    SINCE,
    SteppingClock,
    connector,
)

CASSETTES = Path(__file__).parent / "cassettes"
RECORDING = os.environ.get("ORDERVAULT_RECORD_CASSETTES") == "1"
# Nothing listens on the discard port: replay must never need a server.
OFFLINE = "http://127.0.0.1:9/ws/api.dll"
SECRET_HEADERS = (
    "X-EBAY-API-IAF-TOKEN",
    "X-EBAY-API-APP-NAME",
    "X-EBAY-API-DEV-NAME",
    "X-EBAY-API-CERT-NAME",
)
_PAGE = re.compile(rb"<PageNumber>(\d+)</PageNumber>")
_AUTH_TOKEN = re.compile(rb"<eBayAuthToken>.*?</eBayAuthToken>", re.DOTALL)


def _page_number(request: Any) -> bytes | None:
    found = _PAGE.search(request.body or b"")
    return found.group(1) if found else None


def _same_call(r1: Any, r2: Any) -> None:
    assert r1.headers.get("X-EBAY-API-CALL-NAME") == r2.headers.get("X-EBAY-API-CALL-NAME")


def _same_page(r1: Any, r2: Any) -> None:
    assert _page_number(r1) == _page_number(r2)


def _redact_body(request: Any) -> Any:
    if request.body:
        request.body = _AUTH_TOKEN.sub(b"<eBayAuthToken>REDACTED</eBayAuthToken>", request.body)
    return request


RECORDER = vcr.VCR(
    cassette_library_dir=str(CASSETTES),
    record_mode="all" if RECORDING else "none",
    match_on=["method", "path", "ebay_call", "ebay_page"],
    filter_headers=[(name, "REDACTED") for name in SECRET_HEADERS]
    + [("User-Agent", None), ("X-EBAY-SDK-REQUEST-ID", None)],  # noise: host, random id
    before_record_request=_redact_body,
)
RECORDER.register_matcher("ebay_call", _same_call)
RECORDER.register_matcher("ebay_page", _same_page)


def _cassette(name: str) -> Any:
    if RECORDING:
        (CASSETTES / name).unlink(missing_ok=True)  # "all" would append to the old one
    return RECORDER.use_cassette(name)


@contextmanager
def _endpoint(
    specs: list[EbayAccountSpec], prepare: Callable[[FakeEbayTrading], None] = lambda _: None
) -> Iterator[str]:
    if not RECORDING:
        yield OFFLINE
        return
    with FakeEbayTrading(specs) as fake:
        prepare(fake)
        yield fake.url


PAGING = [EbayAccountSpec(token=OAUTH_TOKEN, orders=45, seed=21, malformed=1)]
FAULTS = [EbayAccountSpec(token=AUTH_N_AUTH_TOKEN, orders=12, seed=22)]


def _faults(fake: FakeEbayTrading) -> None:
    fake.inject(EbayFault.HTML_503)
    fake.inject(EbayFault.EMPTY_BODY)
    fake.inject(EbayFault.INTERNAL_ERROR)


def test_a_recorded_walk_over_windows_and_pages_yields_every_order_once() -> None:
    with (
        _endpoint(PAGING) as url,
        _cassette("get_orders_paging.yaml") as cassette,
        connector(url, entries_per_page=10) as ebay,
    ):
        pages = list(ebay.pull(since=SINCE))
    ids = [o.marketplace_order_id for p in pages for o in p.orders]
    ids += [q.marketplace_order_id or "?" for p in pages for q in p.quarantined]
    assert Counter(ids) == Counter(o.order_id for o in FakeEbayTrading(PAGING).orders())
    assert sum(len(p.quarantined) for p in pages) == 1
    assert len(cassette) == len(pages) > 3
    assert cassette.play_count == (0 if RECORDING else len(pages))
    assert {_page_number(r) for r in cassette.requests} >= {b"1", b"2", b"3"}


def test_recorded_faults_are_retried_and_lose_nothing() -> None:
    clock = SteppingClock()
    with (
        _endpoint(FAULTS, _faults) as url,
        _cassette("get_orders_faults.yaml") as cassette,
        connector(url, clock=clock, token=AUTH_N_AUTH_TOKEN) as ebay,
    ):
        pages = list(ebay.pull(since=SINCE))
    ids = [o.marketplace_order_id for p in pages for o in p.orders]
    assert Counter(ids) == Counter(o.order_id for o in FakeEbayTrading(FAULTS).orders())
    assert len(clock.sleeps_s) == 3
    statuses = [r["status"]["code"] for r in cassette.responses]
    assert statuses[:3] == [503, 200, 200]


def test_a_recorded_refusal_of_the_token_needs_attention() -> None:
    with (
        _endpoint(PAGING, lambda fake: fake.expire_token(OAUTH_TOKEN)) as url,
        _cassette("get_orders_refused_token.yaml"),
        connector(url) as ebay,
        pytest.raises(AccountNeedsAttention, match="error 932"),
    ):
        list(ebay.pull(since=SINCE))


@pytest.mark.skipif(RECORDING, reason="replay only")
def test_a_request_the_cassette_does_not_hold_is_refused_not_sent() -> None:
    state = {
        "version": 1,
        "walk_from": "2025-12-31T00:00:00+00:00",
        "walk_to": "2026-03-20T11:58:00+00:00",
        "window_from": "2025-12-31T00:00:00+00:00",
        "window_to": "2026-01-29T00:00:00+00:00",
        "page": 9,  # never recorded
        "entries": 30,
        "restarts": 0,
        "done": False,
    }
    with (
        RECORDER.use_cassette("get_orders_paging.yaml"),
        connector(OFFLINE, entries_per_page=10) as ebay,
        pytest.raises(CannotOverwriteExistingCassetteException),
    ):
        list(ebay.pull(state))


def test_cassettes_hold_no_token_and_no_application_key() -> None:
    files = sorted(CASSETTES.glob("*.yaml"))
    assert [f.name for f in files] == [
        "get_orders_faults.yaml",
        "get_orders_paging.yaml",
        "get_orders_refused_token.yaml",
    ]
    for path in files:
        text = path.read_text(encoding="utf-8")
        for secret in (OAUTH_TOKEN, AUTH_N_AUTH_TOKEN, *DEFAULT_KEYS.values()):
            assert secret not in text, path.name
        assert "REDACTED" in text
        assert "X-EBAY-API-CALL-NAME" in text
    assert "<eBayAuthToken>REDACTED</eBayAuthToken>" in (
        CASSETTES / "get_orders_faults.yaml"
    ).read_text(encoding="utf-8")
