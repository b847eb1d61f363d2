"""The webhook address guard against SSRF (issue 8), from an attacker's side.

tests/destinations/test_guard.py covers the guard's rules one by one; here: the edges of each
refused range, every way of spelling the metadata address that the system resolver accepts, a
name resolving into each refused range, and `allow_private_network` letting exactly its own
destination through to a real private address of this machine.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pydantic
import pytest

from pipeline.destinations import AddressPolicy, TransportError, Webhook
from pipeline.destinations.guard import checked_addresses, refusal, system_resolver
from pipeline.receiver import WebhookReceiver
from tests.destinations.conftest import SECRET, outgoing, webhook_config

STRICT = AddressPolicy()
PRIVATE_OK = AddressPolicy(allow_private_network=True)
EVERYTHING_OK = AddressPolicy(allow_private_network=True, allow_loopback=True)

# The first and last address of each range a destination must allow explicitly.
PRIVATE_EDGES = [
    "10.0.0.0",
    "10.255.255.255",
    "172.16.0.0",
    "172.31.255.255",
    "192.168.0.0",
    "192.168.255.255",
    "169.254.0.0",
    "169.254.255.255",
    "fc00::",
    "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "fe80::",
    "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "fe80::1%eth0",  # with a zone, as getaddrinfo returns link-local addresses
    "::ffff:172.16.0.1",
    "::ffff:192.168.0.1",
    "::ffff:169.254.0.1",
]
# Their public neighbours.
PUBLIC_NEIGHBOURS = [
    "9.255.255.255",
    "11.0.0.0",
    "172.15.255.255",
    "172.32.0.0",
    "192.167.255.255",
    "192.169.0.0",
    "169.253.255.255",
    "169.255.0.0",
    "::ffff:172.32.0.1",
]
# 169.254.169.254 as inet_aton reads it: what a URL's host may say instead of the dotted quad.
METADATA_SPELLINGS = ["2852039166", "0xa9fea9fe", "0251.0376.0251.0376", "169.254.43518"]
LOOPBACK_SPELLINGS = ["2130706433", "0x7f.1", "127.1", "localhost"]


@pytest.mark.parametrize("address", PRIVATE_EDGES)
def test_each_private_range_is_refused_to_its_edges(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert refusal(ip, STRICT) is not None
    assert refusal(ip, PRIVATE_OK) is None


@pytest.mark.parametrize("address", PUBLIC_NEIGHBOURS)
def test_the_public_neighbours_of_the_private_ranges_pass(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), STRICT) is None


@pytest.mark.parametrize(
    "address",
    [
        # IPv4-compatible (deprecated, ::/96): 10.0.0.5 and the metadata address.
        "::a00:5",
        "::a9fe:a9fe",
        # IPv4-translated (SIIT, ::ffff:0:0/96) 10.0.0.5.
        "::ffff:0:a00:5",
        # 10.0.0.5 behind the local-use NAT64 prefix (64:ff9b:1::/48, RFC 8215).
        "64:ff9b:1::a00:5",
        # Deprecated site-local (fec0::/10), still routed on some old networks.
        "fec0::1",
    ],
)
def test_ipv6_forms_that_reach_private_networks_are_refused(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), STRICT) is not None


@pytest.mark.parametrize("host", METADATA_SPELLINGS)
def test_the_metadata_address_is_refused_however_it_is_spelled(host: str) -> None:
    with pytest.raises(TransportError) as caught:
        checked_addresses(host, 443, resolver=system_resolver, policy=EVERYTHING_OK)
    assert caught.value.permanent
    assert "metadata" in caught.value.message


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_loopback_is_refused_however_it_is_spelled(host: str) -> None:
    with pytest.raises(TransportError, match="loopback") as caught:
        checked_addresses(host, 443, resolver=system_resolver, policy=PRIVATE_OK)
    assert caught.value.permanent


@pytest.mark.parametrize("host", [h for h in METADATA_SPELLINGS if h != "0251.0376.0251.0376"])
def test_a_webhook_url_spelling_the_metadata_address_is_refused(tmp_path: Path, host: str) -> None:
    config = webhook_config(tmp_path, f"https://{host}/latest/meta-data/", timeout_s=1.0)
    with Webhook(config) as destination, pytest.raises(TransportError) as caught:
        destination.send([outgoing()])
    assert caught.value.permanent
    assert "metadata" in caught.value.message


def test_a_webhook_url_with_an_octal_address_never_gets_as_far_as_a_request(
    tmp_path: Path,
) -> None:
    # httpx refuses dotted octal outright, and so does the config, before any worker starts.
    with pytest.raises(pydantic.ValidationError, match="not a URL"):
        webhook_config(tmp_path, "https://0251.0376.0251.0376/latest/meta-data/")
    with pytest.raises(httpx.InvalidURL):
        httpx.URL("https://0251.0376.0251.0376/latest/meta-data/")


@pytest.mark.parametrize(
    "address",
    [
        "10.1.2.3",
        "172.20.0.1",
        "192.168.1.1",
        "169.254.1.1",
        "169.254.169.254",
        "fd00::1",
        "fe80::1",
        "::ffff:192.168.1.1",
    ],
)
def test_a_name_resolving_into_a_refused_range_is_refused_before_connecting(
    tmp_path: Path, address: str
) -> None:
    config = webhook_config(tmp_path, "https://erp.acme.example/orders", timeout_s=1.0)
    asked: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return [address]

    with Webhook(config, resolver=resolver) as destination, pytest.raises(TransportError) as caught:
        destination.send([outgoing()])
    assert caught.value.permanent  # a refusal, not a failed connection attempt
    assert f"resolves to {ipaddress.ip_address(address)}" in caught.value.message
    assert asked == ["erp.acme.example"]


# -- allow_private_network, end to end ---------------------------------------------------------


def private_address_of_this_machine() -> str | None:
    """The source address this machine would use towards the internet, if it is a private one.

    A UDP "connect" only consults the routing table; nothing is sent.
    """
    for family, probe in ((socket.AF_INET, "8.8.8.8"), (socket.AF_INET6, "2001:4860:4860::8888")):
        with socket.socket(family, socket.SOCK_DGRAM) as udp:
            try:
                udp.connect((probe, 9))
            except OSError:
                continue
            address = ipaddress.ip_address(udp.getsockname()[0])
        if not address.is_global and not address.is_loopback and not address.is_link_local:
            return str(address)
    return None


@pytest.fixture
def private_receiver(tmp_path: Path) -> Iterator[tuple[WebhookReceiver, str]]:
    address = private_address_of_this_machine()
    if address is None:
        pytest.skip("this machine has no private address to listen on")
    with WebhookReceiver(tmp_path / "receiver", secret=SECRET, host=address) as receiver:
        yield receiver, address


def test_allow_private_network_lets_only_its_own_destination_through(
    tmp_path: Path, private_receiver: tuple[WebhookReceiver, str]
) -> None:
    receiver, address = private_receiver
    # The name the receiver's certificate is for, resolving to the private address.
    url = f"https://localhost:{receiver.port}/orders"

    def resolver(host: str, port: int) -> list[str]:
        return [address]

    strict = webhook_config(tmp_path, url)
    allowed = webhook_config(tmp_path, url, allow_private_network=True)
    verify = str(receiver.ca_file)
    with (
        Webhook(strict, verify=verify, resolver=resolver) as refused,
        pytest.raises(TransportError) as caught,
    ):
        refused.send([outgoing()])
    assert caught.value.permanent
    assert "allow_private_network" in caught.value.message
    assert receiver.stats.connections == 0

    with Webhook(allowed, verify=verify, resolver=resolver) as destination:
        destination.send([outgoing()])
    assert receiver.stats.accepted == 1
