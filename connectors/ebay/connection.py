"""The ebaysdk Trading connection for one seller account, set up the way we need it.

- `config_file=None`: no `ebay.yaml` lookup in the working directory, home or /etc.
- App, dev and cert ids always strings: ebaysdk copies them into headers, requests refuses None.
- An OAuth user token goes in the `X-EBAY-API-IAF-TOKEN` header (`iaf_token`); an Auth'n'Auth
  token in the body's `RequesterCredentials`, which ebaysdk does not escape, so we do.
- `escape_xml=True`: request values are escaped (ebaysdk's default leaves them raw).
- An explicit compatibility level: ebaysdk's default (837) is years out of support.
- `errors=False`, `warnings=False`: ebaysdk would log eBay's error texts and raise with them;
  we classify the raw response ourselves (`response`), by code only, and send through
  `build_request`/`execute_request` (see `calls`).
- ebaysdk forces https. Only an http endpoint, which settings allow for loopback alone (the
  fake server), turns that off, on this connection only.
- No transport-level retries (ebaysdk mounts three): every attempt is one budgeted call, and
  our own backoff decides.
- The `ebaysdk` logger logs request headers and bodies (tokens) and responses (buyer PII) at
  DEBUG: it is held at WARNING whatever the root level is.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from ebaysdk.trading import Connection as Trading
from requests.adapters import HTTPAdapter

from connectors.ebay.settings import EbayAccountSettings

__all__ = ["COMPATIBILITY_LEVEL", "DEFAULT_URI", "build_connection"]

#: The Trading API schema version we speak (eBay's release of 2025; see its release notes).
COMPATIBILITY_LEVEL = "1455"
DEFAULT_URI = "/ws/api.dll"


def build_connection(settings: EbayAccountSettings, *, timeout_s: float) -> Any:
    logging.getLogger("ebaysdk").setLevel(logging.WARNING)
    parts = urlsplit(settings.url)
    kwargs: dict[str, Any] = {
        "config_file": None,
        "domain": parts.netloc,
        "uri": parts.path or DEFAULT_URI,
        "appid": settings.app_id,
        "devid": settings.dev_id,
        "certid": settings.cert_id,
        "siteid": str(settings.site_id),
        "compatibility": COMPATIBILITY_LEVEL,
        "escape_xml": True,
        "timeout": timeout_s,
        "errors": False,
        "warnings": False,
        "debug": False,
    }
    if settings.resolved_auth_scheme == "oauth":
        kwargs["iaf_token"] = settings.token
    else:
        kwargs["token"] = escape(settings.token)
    connection = Trading(**kwargs)
    if parts.scheme == "http":
        connection.config.set("https", False, force=True)
    for prefix in ("http://", "https://"):
        connection.session.mount(prefix, HTTPAdapter(max_retries=0))
    return connection
