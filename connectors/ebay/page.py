"""A page of a GetOrders pull; the type is shared by every connector (`connectors.page`)."""

from connectors.page import Page

__all__ = ["Page"]
