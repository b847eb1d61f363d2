"""The page's state read stays an index lookup per key, however little the planner knows.

On a table never analysed (a new deployment, a backfill before autovacuum runs) the read by
`marketplace_order_id = ANY(array)` was planned as a scan of all the client's orders, and got
slower with every page stored. The LATERAL spelling leaves the planner no such choice.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from storage import orders
from storage.db import write_session
from tests.fixtures.databases import MigratedDatabase

ROWS = 3000


def _fill_without_statistics(db: MigratedDatabase) -> None:
    with db.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO orders (client_id, marketplace, account, marketplace_order_id,"
            " version, content_digest, status, purchased_at, clear, schema_version,"
            " first_stored_at, last_stored_at)"
            " SELECT 'acme', 'amazon', 'acme-eu', 'o-' || n, 1, 'd', 'unshipped', now(), '{}',"
            f" 1, now(), now() FROM generate_series(1, {ROWS}) AS n"
        )


@pytest.mark.postgres
def test_the_state_read_looks_each_key_up_in_the_unique_index(
    data_db: MigratedDatabase,
) -> None:
    if data_db.dialect != "postgresql":
        pytest.skip("the SQLite read is a plain IN over the index")
    _fill_without_statistics(data_db)
    keys = [f"o-{n}" for n in range(1, 101)]
    params = {"client_id": "acme", "marketplace": "amazon", "order_ids": keys}
    with data_db.engine.connect() as connection:
        (plan,) = connection.exec_driver_sql(
            "EXPLAIN (FORMAT JSON, ANALYZE) " + orders._STATES_POSTGRESQL, params
        ).one()
    index_conditions = [node.get("Index Cond", "") for node in _nodes(plan[0]["Plan"])]
    assert any("k.marketplace_order_id" in condition for condition in index_conditions)
    assert '"Rows Removed by Filter"' not in json.dumps(plan)
    # And the answer is right: every key found once, a missing key not at all.
    with write_session(data_db.sessions) as session:
        states = orders.order_states(session, "acme", [("amazon", k) for k in [*keys, "nope"]])
    assert sorted(marketplace_order_id for _, marketplace_order_id in states) == sorted(keys)


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)
