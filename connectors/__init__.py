"""Marketplace clients that turn Amazon and eBay payloads into canonical orders.

Connectors yield orders and never store anything; they import neither `storage` nor `pipeline`.
"""
