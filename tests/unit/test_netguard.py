"""The outbound guard's rules (oncall/core/netguard.py), without sockets; the guard on the
wire (redirects, sitemaps, DNS rebinding) is tests/integration/test_attacks_http.py."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from oncall.core.netguard import BlockedDestination, OutboundPolicy, guarded_client, is_public


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("::ffff:169.254.169.254", False),
        ("2002:7f00:1::", False),  # 6to4 wrapping 127.0.0.1
    ],
)
def test_public_means_globally_routable(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


def test_url_rules_scheme_and_hosts() -> None:
    policy = OutboundPolicy(allowed_hosts=frozenset({"docs.example.com"}), hosts_hint="add it")
    policy.check_url(httpx.URL("https://docs.example.com/a"))
    for url in ("file:///etc/passwd", "ftp://docs.example.com/x", "http://evil.example/x"):
        with pytest.raises(BlockedDestination):
            policy.check_url(httpx.URL(url))
    with pytest.raises(BlockedDestination, match="add it"):
        policy.check_url(httpx.URL("http://DOCS.example.com.evil.example/"))
    OutboundPolicy().check_url(httpx.URL("http://anything.example/"))  # no list: any host


def test_every_redirect_hop_is_checked_against_the_host_list() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "docs.example.com":
            return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest"})
        return httpx.Response(200, text="metadata")

    policy = OutboundPolicy(allowed_hosts=frozenset({"docs.example.com"}), allow_private=True)
    client = guarded_client(policy, httpx.MockTransport(handler))
    with client, pytest.raises(BlockedDestination, match=r"169\.254\.169\.254"):
        client.get("http://docs.example.com/page")
