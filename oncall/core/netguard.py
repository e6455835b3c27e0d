"""Outbound HTTP for URLs that come from untrusted text: every hop checked, the checked
address is the one connected to.

The papers tool fetches URLs the model names, and sitemap sync fetches every `<loc>` a
sitemap lists: both are URLs someone else wrote. Without a guard, such a URL (or a
redirect from it) reaches the cloud metadata service, the loopback admin port of a
neighbour, or any host of the internal network, and the reply ends up in an answer or the
index. Checking the first URL is not enough: redirects lead elsewhere, and a name can
resolve to a public address when checked and to 127.0.0.1 a moment later when connected
(DNS rebinding).

`guarded_client` returns an `httpx.Client` whose transport applies an `OutboundPolicy`
on every request it sends, redirects included:
- URL rules, before anything is sent: http(s) only; with `allowed_hosts`, only those hosts.
- The address rule, when the TCP connection is made: the host is resolved once, every
  address it resolves to must be public (unless `allow_private`, or the host is one of
  `trusted_hosts`, the hosts the operator configured), and the socket connects only to
  those checked addresses. There is no second lookup to rebind.
Environment proxies are ignored (`trust_env=False`): through a proxy the address actually
reached could not be checked.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedDestination(httpx.TransportError):
    """A request the outbound policy refused; nothing was sent to the destination."""


@dataclass(frozen=True)
class OutboundPolicy:
    """Where a guarded client may go.

    `allowed_hosts` None means any host name; a set keeps every hop (redirects too) on those
    names. `trusted_hosts` are exempt from the address rule (the operator configured them,
    e.g. an arXiv mirror on the internal network). `private_hint` and `hosts_hint` finish
    the refusal messages: which setting would allow it.
    """

    allow_private: bool = False
    allowed_hosts: frozenset[str] | None = None
    trusted_hosts: frozenset[str] = frozenset()
    private_hint: str = ""
    hosts_hint: str = ""

    def check_url(self, url: httpx.URL) -> None:
        """Refuse a URL the rules exclude before any connection is made."""
        if url.scheme not in ("http", "https"):
            raise BlockedDestination(f"{url}: only http and https URLs are fetched")
        host = url.host.lower()
        if self.allowed_hosts is not None and host not in self.allowed_hosts:
            allowed = ", ".join(sorted(self.allowed_hosts))
            hint = f" ({self.hosts_hint})" if self.hosts_hint else ""
            raise BlockedDestination(
                f"{url}: host {host!r} is not one this fetch may visit (allowed: {allowed}){hint}"
            )

    def addresses_for(self, host: str, port: int) -> list[str] | None:
        """The addresses `host` may be reached at, each checked, in resolver order; None
        when the address rule does not apply (private allowed, or a trusted host)."""
        if self.allow_private or host.lower() in self.trusted_hosts:
            return None
        addresses = resolve(host, port)
        for address in addresses:
            if not is_public(address):
                hint = f"; {self.private_hint}" if self.private_hint else ""
                raise BlockedDestination(
                    f"{host} resolves to {address}, a private, loopback or link-local address: "
                    f"refused{hint}"
                )
        return [str(a) for a in addresses]


def resolve(host: str, port: int) -> list[Address]:
    """Every address `host` resolves to (an IP literal resolves to itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise httpx.ConnectError(f"cannot resolve {host}: {exc}") from exc
    found: list[Address] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])  # drop a zone id
        if address not in found:
            found.append(address)
    if not found:
        raise httpx.ConnectError(f"cannot resolve {host}: no addresses")
    return found


def is_public(address: Address) -> bool:
    """Globally routable unicast: not private, loopback, link-local (cloud metadata),
    carrier-grade NAT, reserved, multicast or unspecified; IPv4 inside IPv6 judged as IPv4."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return is_public(embedded)
        if address.teredo is not None:
            return False
    return address.is_global and not address.is_multicast


class _CheckedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, connecting only to the address the policy checked."""

    def __init__(self, policy: OutboundPolicy):
        self.policy = policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = self.policy.addresses_for(host, port)
        if addresses is None:
            return super().connect_tcp(host, port, timeout, local_address, socket_options)
        # Connect to the checked addresses only, in order (an IPv6 address first and no
        # IPv6 route: the next one), never to a fresh lookup of `host`. TLS still verifies
        # the certificate against `host` (httpcore's server_hostname is the URL's host).
        failure: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                failure = exc
        assert failure is not None  # resolve() never returns an empty list
        raise failure


class GuardedTransport(httpx.HTTPTransport):
    """`httpx.HTTPTransport` applying `policy` to every request; `inner` replaces the
    network (tests): then only the URL rules apply, as no connection is made here."""

    def __init__(self, policy: OutboundPolicy, inner: httpx.BaseTransport | None = None):
        super().__init__(trust_env=False)
        self.policy = policy
        self._inner = inner
        # httpx has no public hook for the connection backend; its pool is rebuilt here
        # with the checking backend (tests/integration/test_attacks_http.py proves the pin).
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),  # SSL_CERT_FILE etc. still apply
            network_backend=_CheckedBackend(policy),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.policy.check_url(request.url)
        if self._inner is not None:
            return self._inner.handle_request(request)
        return super().handle_request(request)

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()
        super().close()


def guarded_client(
    policy: OutboundPolicy, transport: httpx.BaseTransport | None = None, **kwargs: Any
) -> httpx.Client:
    """An `httpx.Client` (redirects followed, each hop checked) under `policy`; `kwargs`
    go to the client (timeout, headers...)."""
    kwargs.setdefault("follow_redirects", True)
    return httpx.Client(transport=GuardedTransport(policy, transport), trust_env=False, **kwargs)


def host_of(url_or_host: str) -> str:
    """The lower-cased host of a URL, or a bare host name as given (for policies)."""
    text = url_or_host.strip()
    return (httpx.URL(text).host if "://" in text else text).lower()
