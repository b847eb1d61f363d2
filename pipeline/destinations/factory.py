"""Config -> destination: the one place that picks the implementation for a configured type."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable

from pipeline.clients import DirectoryDestination, SftpDestination, WebhookDestination
from pipeline.destinations.base import Destination
from pipeline.destinations.directory import Directory
from pipeline.destinations.guard import Resolver, system_resolver
from pipeline.destinations.sftp import Sftp
from pipeline.destinations.webhook import Webhook


def build_destination(
    config: WebhookDestination | SftpDestination | DirectoryDestination,
    *,
    resolver: Resolver = system_resolver,
    clock_s: Callable[[], float] = time.time,
    verify: ssl.SSLContext | str | bool = True,
) -> Destination:
    """The destination `config` describes. ValueError if its keys, URL or certificate are unusable.

    `verify` (webhooks only): an SSLContext, a CA bundle file, or True for the system CAs.
    `resolver` (webhooks only): host, port -> addresses, checked by the address guard.
    """
    if isinstance(config, WebhookDestination):
        return Webhook(config, verify=verify, resolver=resolver, clock_s=clock_s)
    if isinstance(config, SftpDestination):
        return Sftp(config, clock_s=clock_s)
    return Directory(config, clock_s=clock_s)
