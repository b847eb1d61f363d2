"""The eBay connector: Trading API GetOrders (through ebaysdk) -> canonical orders.

ebay = EbayConnector(settings, budget=InMemoryCallBudget(), clock=now, sleep=time.sleep)
for page in ebay.pull(state, since=start):
    ...  # page.orders, page.quarantined, page.state, page.position_at, page.done
"""

from connectors.ebay.budget import CallBudget, InMemoryCallBudget
from connectors.ebay.calls import DEFAULT_RETRY, RetryPolicy
from connectors.ebay.connector import DEFAULT_OVERLAP, EbayConnector
from connectors.ebay.errors import AccountNeedsAttention, CallBudgetExhausted, EbayError
from connectors.ebay.mapping import MappingContext, map_order, map_orders
from connectors.ebay.page import Page
from connectors.ebay.quarantine import QuarantineItem
from connectors.ebay.settings import DEFAULT_DAILY_CALL_BUDGET, EbayAccountSettings
from connectors.ebay.walk import MAX_WINDOW

__all__ = [
    "DEFAULT_DAILY_CALL_BUDGET",
    "DEFAULT_OVERLAP",
    "DEFAULT_RETRY",
    "MAX_WINDOW",
    "AccountNeedsAttention",
    "CallBudget",
    "CallBudgetExhausted",
    "EbayAccountSettings",
    "EbayConnector",
    "EbayError",
    "InMemoryCallBudget",
    "MappingContext",
    "Page",
    "QuarantineItem",
    "RetryPolicy",
    "map_order",
    "map_orders",
]
