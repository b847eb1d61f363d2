"""The address guard (issue 8): resolve the host, check every address, connect to a checked one."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import pytest

from pipeline.destinations import AddressPolicy, TransportError, Webhook
from pipeline.destinations.guard import checked_addresses, refusal
from pipeline.receiver import WebhookReceiver
from tests.destinations.conftest import outgoing, webhook_config

STRICT = AddressPolicy()
PRIVATE_OK = AddressPolicy(allow_private_network=True)
LOOPBACK_OK = AddressPolicy(allow_loopback=True)


class Resolver:
    """A resolver from a table, recording what it was asked; no DNS anywhere."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.table[host]


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.5",
        "172.16.0.1",
        "172.31.255.254",
        "192.168.1.10",
        "100.64.0.1",  # carrier-grade NAT
        "fc00::1",
        "fd12:3456::1",
        "169.254.10.20",
        "fe80::1",
        "::ffff:10.0.0.5",  # IPv4-mapped
        "64:ff9b::a00:5",  # NAT64 of 10.0.0.5
        "2002:a00:5::1",  # 6to4 of 10.0.0.5
    ],
)
def test_private_and_link_local_need_allow_private_network(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert refusal(ip, STRICT) is not None
    assert refusal(ip, PRIVATE_OK) is None


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",
        "fd00:ec2::254",
        "::ffff:169.254.169.254",
        "0.0.0.0",
        "::",
        "224.0.0.1",
        "ff02::1",
    ],
)
def test_metadata_unspecified_and_multicast_are_always_refused(address: str) -> None:
    ip = ipaddress.ip_address(address)
    everything = AddressPolicy(allow_private_network=True, allow_loopback=True)
    assert refusal(ip, everything) is not None


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_loopback_needs_insecure_loopback_not_private_network(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert refusal(ip, STRICT) is not None
    assert refusal(ip, PRIVATE_OK) is not None
    assert refusal(ip, LOOPBACK_OK) is None


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), STRICT) is None


def test_every_resolved_address_is_checked() -> None:
    resolver = Resolver({"erp.example": ["93.184.215.14", "169.254.169.254"]})
    with pytest.raises(TransportError) as caught:
        checked_addresses("erp.example", 443, resolver=resolver, policy=PRIVATE_OK)
    assert caught.value.permanent
    assert "169.254.169.254" in caught.value.message
    assert "metadata" in caught.value.message


def test_a_failed_lookup_is_retryable() -> None:
    with pytest.raises(TransportError) as caught:
        checked_addresses("nowhere.example", 443, resolver=Resolver({}), policy=STRICT)
    assert not caught.value.permanent
    assert "gaierror" in caught.value.message


def test_webhook_to_a_name_resolving_privately_is_refused_before_connecting(
    tmp_path: Path,
) -> None:
    resolver = Resolver({"erp.example": ["10.1.2.3"]})
    config = webhook_config(tmp_path, "https://erp.example/orders")
    with Webhook(config, resolver=resolver) as destination, pytest.raises(TransportError) as caught:
        destination.send([outgoing()])
    assert caught.value.permanent
    assert "10.1.2.3" in caught.value.message
    assert "allow_private_network" in caught.value.message
    assert resolver.asked == [("erp.example", 443)]


@pytest.mark.parametrize("url", ["https://169.254.169.254/latest", "https://[fd00:ec2::254]/"])
def test_a_metadata_address_in_the_url_is_refused_at_construction(tmp_path: Path, url: str) -> None:
    config = webhook_config(tmp_path, url, allow_private_network=True)
    with pytest.raises(ValueError, match="metadata"):
        Webhook(config)


def test_loopback_behind_a_name_is_refused_without_insecure_loopback(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    resolver = Resolver({"localhost": ["127.0.0.1"]})
    config = webhook_config(tmp_path, f"https://localhost:{receiver.port}/orders")
    destination = Webhook(config, verify=str(receiver.ca_file), resolver=resolver)
    with destination, pytest.raises(TransportError, match="loopback"):
        destination.send([outgoing()])
    assert receiver.stats.requests == 0


def test_the_connection_goes_to_the_checked_address_with_the_name_kept(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    # 127.0.0.2 is loopback too but nothing listens there: the next checked address is used.
    resolver = Resolver({"localhost": ["127.0.0.2", "127.0.0.1"]})
    config = webhook_config(
        tmp_path, f"https://localhost:{receiver.port}/orders", insecure_loopback=True
    )
    with Webhook(config, verify=str(receiver.ca_file), resolver=resolver) as destination:
        destination.send([outgoing()])
    assert receiver.stats.accepted == 1
    assert receiver.requests[0].headers["host"] == f"localhost:{receiver.port}"
    assert receiver.server_names == ["localhost"]


def test_verdicts_are_remembered_per_policy() -> None:
    resolver = Resolver({"erp.example": ["10.1.2.3"]})
    for _ in range(2):  # the second time from the remembered verdicts
        with pytest.raises(TransportError, match="allow_private_network"):
            checked_addresses("erp.example", 443, resolver=resolver, policy=STRICT)
        assert checked_addresses("erp.example", 443, resolver=resolver, policy=PRIVATE_OK) == [
            ipaddress.ip_address("10.1.2.3")
        ]


def test_a_name_rebound_to_a_refused_address_is_refused_at_the_next_request(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    # DNS rebinding: the name passes once, then answers with an address the policy refuses.
    # The name is resolved and judged again for every request, the kept-alive connection
    # to the old address notwithstanding.
    resolver = Resolver({"localhost": ["127.0.0.1"]})
    config = webhook_config(
        tmp_path, f"https://localhost:{receiver.port}/orders", insecure_loopback=True
    )
    with Webhook(config, verify=str(receiver.ca_file), resolver=resolver) as destination:
        destination.send([outgoing()])
        resolver.table["localhost"] = ["127.0.0.1", "169.254.169.254"]
        with pytest.raises(TransportError, match="metadata") as caught:
            destination.send([outgoing()])
        assert caught.value.permanent
        resolver.table["localhost"] = ["10.0.0.7"]
        with pytest.raises(TransportError, match=r"10\.0\.0\.7"):
            destination.send([outgoing()])
    assert len(resolver.asked) == 3
    assert receiver.stats.requests == 1


def test_an_address_in_the_url_is_never_resolved(tmp_path: Path, receiver: WebhookReceiver) -> None:
    resolver = Resolver({})
    config = webhook_config(tmp_path, receiver.url, insecure_loopback=True)
    with Webhook(config, verify=str(receiver.ca_file), resolver=resolver) as destination:
        destination.send([outgoing()])
        destination.send([outgoing()])
    assert resolver.asked == []
    assert receiver.stats.accepted == 1  # the same order twice
    assert receiver.server_names == [None]  # no SNI for an address, one connection
