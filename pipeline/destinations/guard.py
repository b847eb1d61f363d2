"""Which addresses a webhook may connect to (issue 8): no SSRF into the operator's own network.

A webhook URL is typed by whoever configures a client, so the host is resolved and every
address it resolves to is checked, and the connection then goes to a checked address (never to
a second, possibly different, resolution). Refused unless the destination allows them:
private and link-local ranges (`allow_private_network`), loopback (`insecure_loopback`).
Always refused: cloud metadata endpoints, unspecified and multicast addresses. Metadata stays
refused even on a private network because it hands out the machine's cloud credentials.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pipeline.destinations.base import TransportError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: host, port -> the addresses (as strings) a connection to them may use.
Resolver = Callable[[str, int], Sequence[str]]

METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, Oracle
        "fd00:ec2::254",  # AWS over IPv6
        "169.254.170.2",  # AWS ECS task credentials
        "100.100.100.200",  # Alibaba Cloud
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Deprecated IPv4-compatible (::a.b.c.d) and SIIT IPv4-translated (::ffff:0:a.b.c.d) forms:
# `ipaddress` calls many of them global, but they carry an IPv4 address to judge instead.
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
# The only IPv6 space the internet routes; everything else (site-local fec0::/10, local-use
# NAT64 64:ff9b:1::/48, reserved blocks) is somebody's own network.
_GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")


@dataclass(frozen=True)
class AddressPolicy:
    allow_private_network: bool = False
    allow_loopback: bool = False


def system_resolver(host: str, port: int) -> list[str]:
    """The system resolver's addresses for `host`, first-preferred first, without repeats."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    # An IPv6 address that routes to an IPv4 one must be judged by the IPv4 one.
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or address in _IPV4_TRANSLATED:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _IPV4_COMPATIBLE and int(address) > 1:  # not :: nor ::1
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _reason(address: IPAddress, policy: AddressPolicy) -> str | None:
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_unspecified:
        return "unspecified"
    if address.is_multicast:
        return "multicast"
    if address.is_loopback:
        return None if policy.allow_loopback else "loopback (needs insecure_loopback)"
    if address.is_link_local:
        return None if policy.allow_private_network else "link-local (needs allow_private_network)"
    if not address.is_global or (
        isinstance(address, ipaddress.IPv6Address) and address not in _GLOBAL_UNICAST_V6
    ):
        return None if policy.allow_private_network else "private (needs allow_private_network)"
    return None


def refusal(address: IPAddress, policy: AddressPolicy) -> str | None:
    """Why `address` is refused under `policy`, or None when it is allowed."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return _reason(embedded, policy)
    return _reason(address, policy)


def checked_addresses(
    host: str, port: int, *, resolver: Resolver, policy: AddressPolicy
) -> list[IPAddress]:
    """Every address of `host`, each allowed by `policy`; else `TransportError`.

    A refused address is permanent: retrying resolves to the same network until someone
    changes the config. A failed lookup is not: DNS outages pass.
    """
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        judged = [(literal, refusal(literal, policy))]
    else:
        try:
            judged = [_judged(a, policy) for a in resolver(host, port)]
        except (OSError, UnicodeError) as exc:
            raise TransportError(f"cannot resolve {host} ({type(exc).__name__})") from None
        if not judged:
            raise TransportError(f"cannot resolve {host} (no addresses)")
    for address, reason in judged:
        if reason:
            raise TransportError(f"refused: {host} resolves to {address}, {reason}", permanent=True)
    return [address for address, _ in judged]


@functools.lru_cache(maxsize=1024)
def _judged(text: str, policy: AddressPolicy) -> tuple[IPAddress, str | None]:
    """`text` as an address, and why `policy` refuses it (None: allowed).

    Memoized because a name is resolved and its answer checked on every request (a rebinding
    DNS server must not get a second, unchecked, answer through), and parsing and judging the
    same few addresses each time was most of the guard's cost. Only the verdict is kept, never
    the resolution: it is a function of the address and the (frozen) policy alone, so a
    cached verdict is the verdict; a name that now resolves elsewhere is judged on its new
    addresses at once.
    """
    address = ipaddress.ip_address(text)
    return address, refusal(address, policy)
