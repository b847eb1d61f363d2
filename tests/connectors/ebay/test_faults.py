"""Faults, refused tokens and the daily call budget: what is retried, what stops, what is lost."""

from __future__ import annotations

import logging
import re
from collections import Counter
from datetime import timedelta

import pytest

from connectors.ebay import (
    AccountNeedsAttention,
    CallBudgetExhausted,
    EbayError,
    InMemoryCallBudget,
    Page,
    RetryPolicy,
)
from connectors.fakes.ebay_trading import EbayAccountSpec, EbayFault
from tests.connectors.ebay.conftest import StartFake
from tests.connectors.ebay.helpers import (
    AUTH_N_AUTH_TOKEN,
    OAUTH_TOKEN,
    SINCE,
    SteppingClock,
    connector,
)


def _ids(pages: list[Page]) -> list[str]:
    return [o.marketplace_order_id for p in pages for o in p.orders]


@pytest.mark.parametrize(
    "fault",
    [EbayFault.HTML_503, EbayFault.EMPTY_BODY, EbayFault.TRUNCATED, EbayFault.INTERNAL_ERROR],
)
def test_a_transient_fault_mid_walk_is_retried_and_loses_nothing(
    fake_ebay: StartFake, fault: EbayFault
) -> None:
    fake = fake_ebay(EbayAccountSpec(token=OAUTH_TOKEN, orders=50, seed=7))
    clock = SteppingClock()
    with connector(fake, clock=clock, entries_per_page=10) as ebay:
        pages = ebay.pull(since=SINCE)
        seen = [next(pages)]
        fake.inject(fault, times=2)
        seen += list(pages)
    assert Counter(_ids(seen)) == Counter(o.order_id for o in fake.orders())
    faulted = [r for r in fake.records if r.fault]
    assert [r.fault for r in faulted] == [fault.value] * 2
    assert faulted[0].page == faulted[1].page == 2  # the same page, asked for again
    assert len(clock.sleeps_s) == 2
    assert clock.sleeps_s[0] < clock.sleeps_s[1]


def test_an_answer_slower_than_the_timeout_is_retried(fake_ebay: StartFake) -> None:
    fake = fake_ebay(EbayAccountSpec(token=OAUTH_TOKEN, orders=15))
    fake.inject(EbayFault.SLOW, delay_s=1.0)
    clock = SteppingClock()
    with connector(fake, clock=clock, timeout_s=0.25) as ebay:
        pages = list(ebay.pull(since=SINCE))
    assert Counter(_ids(pages)) == Counter(o.order_id for o in fake.orders())
    assert len(clock.sleeps_s) == 1


def test_a_connection_refused_is_retried_then_reported_as_retryable() -> None:
    clock = SteppingClock()
    with (
        connector("http://127.0.0.1:9/ws/api.dll", clock=clock) as ebay,  # nothing listens
        pytest.raises(EbayError, match="connection failed") as caught,
    ):
        list(ebay.pull(since=SINCE))
    assert caught.value.retryable
    assert len(clock.sleeps_s) == 4  # five attempts


def test_when_retries_run_out_the_saved_state_resumes_without_loss(
    fake_ebay: StartFake,
) -> None:
    fake = fake_ebay(EbayAccountSpec(token=OAUTH_TOKEN, orders=40, seed=8))
    retry = RetryPolicy(attempts=3, base_delay_s=1.0, max_delay_s=4.0)
    with connector(fake, entries_per_page=10, retry=retry) as ebay:
        pages = ebay.pull(since=SINCE)
        saved = [next(pages)]
        fake.inject(EbayFault.HTML_503, times=3)
        with pytest.raises(EbayError) as caught:
            next(pages)
        rest = list(ebay.pull(saved[-1].state))
    assert caught.value.retryable
    assert caught.value.status == 503
    assert "HTTP 503" in caught.value.message
    assert Counter(_ids(saved + rest)) == Counter(o.order_id for o in fake.orders())


def test_ebays_usage_limit_is_retryable_later_not_now(fake_ebay: StartFake) -> None:
    fake = fake_ebay()
    fake.inject(EbayFault.USAGE_LIMIT)
    clock = SteppingClock()
    with connector(fake, clock=clock) as ebay, pytest.raises(EbayError, match="518") as caught:
        list(ebay.pull(since=SINCE))
    assert caught.value.retryable
    assert not caught.value.retry_now
    assert clock.sleeps_s == []
    assert fake.count() == 1


@pytest.mark.parametrize("fault", [EbayFault.AUTH_INVALID, EbayFault.AUTH_EXPIRED])
def test_a_refused_token_needs_attention_and_stops_the_accounts_pulls(
    fake_ebay: StartFake, fault: EbayFault
) -> None:
    fake = fake_ebay()
    fake.inject(fault)
    clock = SteppingClock()
    with connector(fake, clock=clock) as ebay:
        with pytest.raises(AccountNeedsAttention) as caught:
            list(ebay.pull(since=SINCE))
        error = caught.value
        assert not error.retryable
        assert clock.sleeps_s == []
        assert "'acme-ebay'" in error.message
        assert "needs attention" in error.message
        assert error.code in error.message
        assert "renew its token" in error.message
        assert ebay.needs_attention == error.message
        with pytest.raises(AccountNeedsAttention):
            list(ebay.pull(since=SINCE))
    assert fake.count() == 1  # the second pull never reached eBay


def test_a_token_that_expires_mid_walk_stops_the_walk_at_the_last_stored_page(
    fake_ebay: StartFake,
) -> None:
    fake = fake_ebay(EbayAccountSpec(token=AUTH_N_AUTH_TOKEN, orders=30))
    with connector(fake, token=AUTH_N_AUTH_TOKEN, entries_per_page=10) as ebay:
        pages = ebay.pull(since=SINCE)
        first = next(pages)
        fake.expire_token(AUTH_N_AUTH_TOKEN)
        with pytest.raises(AccountNeedsAttention, match=r"error 932: the token has hard-expired"):
            next(pages)
    assert first.state["page"] == 2
    assert not first.done


def test_an_unknown_token_is_refused_with_931(fake_ebay: StartFake) -> None:
    fake = fake_ebay()
    with (
        connector(fake, token="v^1.1#someone-elses-token") as ebay,
        pytest.raises(AccountNeedsAttention, match="931"),
    ):
        list(ebay.pull(since=SINCE))


# -- the daily call budget ------------------------------------------------------------------


def test_the_daily_call_budget_stops_a_pull_and_tomorrow_resumes_it(fake_ebay: StartFake) -> None:
    fake = fake_ebay(EbayAccountSpec(token=OAUTH_TOKEN, orders=60, seed=9))
    clock = SteppingClock()
    budget = InMemoryCallBudget()
    with connector(
        fake, clock=clock, budget=budget, entries_per_page=10, settings={"daily_call_budget": 3}
    ) as ebay:
        pages = ebay.pull(since=SINCE)
        stored = [next(pages) for _ in range(3)]
        with pytest.raises(CallBudgetExhausted) as caught:
            next(pages)
        assert fake.count() == 3
        assert caught.value.retryable
        assert not caught.value.retry_now
        assert "daily budget of 3 calls" in caught.value.message
        calls_per_day = [3]
        while not stored[-1].done:  # the scheduler tries again each day from the saved state
            clock.now_at += timedelta(days=1)
            before = fake.count()
            try:
                for page in ebay.pull(stored[-1].state):
                    stored.append(page)
            except CallBudgetExhausted:
                pass
            calls_per_day.append(fake.count() - before)
    assert len(calls_per_day) > 2
    assert max(calls_per_day) == 3
    assert ebay.calls.calls_made == fake.count() == sum(calls_per_day)
    assert Counter(_ids(stored)) == Counter(o.order_id for o in fake.orders())


def test_retries_spend_the_budget_too(fake_ebay: StartFake) -> None:
    fake = fake_ebay()
    fake.inject(EbayFault.HTML_503, times=2)
    with (
        connector(fake, settings={"daily_call_budget": 2}) as ebay,
        pytest.raises(CallBudgetExhausted),
    ):
        list(ebay.pull(since=SINCE))
    assert fake.count() == 2


def test_workers_of_one_account_share_its_budget(fake_ebay: StartFake) -> None:
    fake = fake_ebay(EbayAccountSpec(token=OAUTH_TOKEN, orders=50))
    budget = InMemoryCallBudget()
    limits = {"daily_call_budget": 4}
    with (
        connector(fake, budget=budget, entries_per_page=10, settings=limits) as one,
        connector(fake, budget=budget, entries_per_page=10, settings=limits) as two,
    ):
        first = one.pull(since=SINCE)
        next(first), next(first)
        second = two.pull(since=SINCE)
        next(second), next(second)
        with pytest.raises(CallBudgetExhausted):
            next(first)
        with pytest.raises(CallBudgetExhausted):
            next(second)
    assert fake.count() == 4


# -- nothing personal in errors and logs ----------------------------------------------------


def test_errors_and_logs_carry_no_pii_or_tokens_even_at_debug_level(
    fake_ebay: StartFake, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = fake_ebay(
        EbayAccountSpec(token=OAUTH_TOKEN, orders=30, malformed=2),
        EbayAccountSpec(token=AUTH_N_AUTH_TOKEN, orders=10, name="legacy"),
    )
    messages: list[str] = []
    for token in (OAUTH_TOKEN, AUTH_N_AUTH_TOKEN):
        fake.inject(EbayFault.HTML_503)
        fake.inject(EbayFault.INTERNAL_ERROR)
        with connector(fake, token=token, entries_per_page=10) as ebay:
            pages = list(ebay.pull(since=SINCE))
            messages += [f"{q.field} {q.reason}" for p in pages for q in p.quarantined]
            fake.expire_token(token)
            with pytest.raises(AccountNeedsAttention) as caught:
                list(ebay.pull(pages[-1].state))
            messages.append(str(caught.value))
    text = caplog.text + "\n".join(messages)
    assert "retrying" in caplog.text  # the faults were logged...
    secrets = [OAUTH_TOKEN, AUTH_N_AUTH_TOKEN, "fake-oauth-token", "auth/n/auth"]
    personal = [v for o in fake.orders() for v in (o.buyer_email, o.buyer_username, o.eias_token)]
    for value in secrets + personal:
        assert value not in text  # ...without a token or a buyer in them
    assert not re.search(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", text)
