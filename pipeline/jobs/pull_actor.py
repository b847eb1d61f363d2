"""The `pull` actor: one incremental pull of one seller account, sent by the scheduler.

A message carries ids only: client id, marketplace, account name, and the time the scheduler
sent it. Pulls are idempotent (orders upsert, the cursor is saved per page), so a doubled
message costs a few marketplace calls; a message whose account was pulled after it was sent
costs nothing at all, which keeps a backlog of pulls (workers down for an hour) from running
the same account dozens of times.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

import dramatiq

from pipeline.clients import AmazonAccount, ClientConfig, EbayAccount
from storage import get_cursor

if TYPE_CHECKING:
    from pipeline.jobs.actors import Jobs

log = logging.getLogger(__name__)

PULL_QUEUE = "ordervault-pull"
PULL_ACTOR = "pull"

PULL_OPTIONS: dict[str, Any] = {
    "max_retries": 0,  # the next scheduled pull is the retry; the cursor says where to resume
    "time_limit": 30 * 60 * 1000,  # ms; a large account within Amazon's usage plan fits
    "max_age": 6 * 3600 * 1000,  # ms; older messages are dropped, the scheduler sends anew
}


def find_account(
    client: ClientConfig, marketplace: str, account: str
) -> AmazonAccount | EbayAccount | None:
    """The configured account, or None when the config no longer has it."""
    accounts: list[AmazonAccount] | list[EbayAccount] = (
        client.amazon if marketplace == "amazon" else client.ebay
    )
    return next((a for a in accounts if a.account == account), None)


def register_pull_actor(jobs: Jobs) -> dramatiq.Actor[[str, str, str, str], None]:
    """Create the `pull` actor on `jobs.broker`; call once per `Jobs`, from its `__post_init__`."""

    def pull(client_id: str, marketplace: str, account: str, scheduled_at: str) -> None:
        # Imported here: pipeline.pull imports pipeline.jobs.actors, which registers this actor.
        from pipeline.pull import Puller

        client = jobs.runtime.config.clients.get(client_id)
        target = find_account(client, marketplace, account) if client else None
        if client is None or target is None:
            log.warning("pull of %s/%s/%s skipped: not configured", client_id, marketplace, account)
            return
        sent_at = datetime.fromisoformat(scheduled_at)
        with jobs.runtime.sessions() as session:
            cursor = get_cursor(session, client_id, marketplace, account, "incremental")
        if cursor is not None and cursor.updated_at > sent_at:
            log.info(
                "pull of %s/%s/%s skipped: pulled at %s, after this message was sent",
                client_id,
                marketplace,
                account,
                cursor.updated_at.isoformat(),
            )
            return
        report = Puller.for_runtime(jobs.runtime, jobs).pull(client, target)
        log.info(
            "pulled %s/%s/%s: %d page(s), %d new, %d changed, %d unchanged, %d quarantined%s",
            client_id,
            marketplace,
            account,
            report.pages,
            report.created,
            report.updated,
            report.unchanged,
            report.quarantined,
            f", stopped: {report.error}" if report.error else "",
        )

    return dramatiq.Actor(
        pull,
        broker=jobs.broker,
        actor_name=PULL_ACTOR,
        queue_name=PULL_QUEUE,
        priority=5,
        options=dict(PULL_OPTIONS),
    )
