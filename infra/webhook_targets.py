"""Resolving a webhook's host and checking every address it resolves to against the
target rule (``hub.registry.webhook_targets``), then posting to a checked address.

The post goes to the address that was checked, not to the name (which could resolve
somewhere else a moment later: DNS rebinding): the URL's host is replaced by the address,
the ``Host`` header keeps the name, and over https the TLS handshake sends the name (SNI)
and verifies the certificate against it. Redirects are not followed. Residual: the HTTP
client pools connections by address, so two webhook names on one address may share a
TLS connection made for the first name (the same server either way: no internal reach).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable

import httpx

from hub.registry.webhook_targets import Target, TargetPolicy, WebhookRefused

Resolver = Callable[[str, int], Awaitable[list[str]]]
UNRESOLVABLE = "webhook_unresolvable"
RESOLVE_SECONDS = 5.0


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the system resolver, as the post would)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port,
                                                         type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))


async def checked_target(policy: TargetPolicy, url: str,
                         resolver: Resolver = resolve) -> tuple[Target, str]:
    """The target and the address to connect to, once the URL and every address its
    name resolves to passed the rule; ``WebhookRefused`` otherwise."""
    target = policy.check_url(url)
    if target.address is not None:
        return target, str(target.address)
    try:
        async with asyncio.timeout(RESOLVE_SECONDS):
            addresses = await resolver(target.host, target.port)
    except TimeoutError:
        raise WebhookRefused(f"{target.host} did not resolve within {RESOLVE_SECONDS} s",
                             code=UNRESOLVABLE) from None
    except OSError as exc:
        raise WebhookRefused(f"{target.host} does not resolve ({exc})",
                             code=UNRESOLVABLE) from None
    if not addresses:
        raise WebhookRefused(f"{target.host} does not resolve", code=UNRESOLVABLE)
    for address in addresses:
        policy.check_address(target.host, address)
    return target, addresses[0]


async def post_pinned(http: httpx.AsyncClient, target: Target, address: str, body: bytes,
                      headers: dict[str, str]) -> httpx.Response:
    """POSTs to ``address`` as if to ``target.url``: same Host header, same TLS name."""
    url = httpx.URL(target.url)
    pinned = url.copy_with(host=str(ipaddress.ip_address(address)))
    sent = {**headers, "host": url.netloc.decode("ascii")}
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    return await http.post(pinned, content=body, headers=sent, extensions=extensions,
                           follow_redirects=False)
