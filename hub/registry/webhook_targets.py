"""Where the hub may POST an app's webhooks: a rule, so no app can turn the hub against
the network it runs in (loopback admin ports, cloud metadata at 169.254.169.254, the
agencies' private ranges).

A target is ``https`` to an address on the public internet. An operator may allow more
with ``TRUC_WEBHOOK_ALLOW_HOSTS`` (host names and IP networks): an allowed name may be
reached over ``http`` and resolve anywhere; an address inside an allowed network may be
reached (over ``http`` too when the URL names it literally). Everything else that is
loopback, link-local, private, shared (100.64/10), unspecified, multicast, reserved or
documentation space is refused — also when written as IPv4-mapped IPv6
(``::ffff:127.0.0.1``), 6to4, Teredo or NAT64, which would reach the same IPv4 address.

The rule is checked twice: on the URL when an app configures it, and on every address
its name resolves to when a notice is posted (``infra.webhook_targets``), since a name
can be pointed elsewhere after it was accepted.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from hub.errors import InvalidRequest

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
MAX_URL = 2000


class WebhookRefused(InvalidRequest):
    code = "webhook_target_refused"


@dataclass(frozen=True)
class Target:
    """A checked webhook URL, split: ``address`` is set when the URL names an IP."""

    url: str
    scheme: str
    host: str
    port: int
    address: Address | None


@dataclass(frozen=True)
class TargetPolicy:
    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    def check_url(self, url: str) -> Target:
        """The URL split, or ``invalid_webhook`` (not an http(s) URL),
        ``webhook_https_required`` or ``webhook_target_refused``."""
        parts = urlsplit(url)
        try:
            host, port = parts.hostname, parts.port
        except ValueError:
            host = port = None
        if parts.scheme not in ("http", "https") or not host or len(url) > MAX_URL:
            raise InvalidRequest(
                f"a webhook is an http(s) URL of at most {MAX_URL} characters",
                code="invalid_webhook")
        host = host.rstrip(".").lower()
        address = _literal(host)
        target = Target(url, parts.scheme, host,
                        port or (443 if parts.scheme == "https" else 80), address)
        if parts.scheme == "http" and not self._allowed_name_or_network(host, address):
            raise WebhookRefused(
                "a webhook must use https; http is only for hosts the operator allows "
                "(TRUC_WEBHOOK_ALLOW_HOSTS)", code="webhook_https_required")
        if address is not None:
            self.check_address(host, address)
        elif (host == "localhost" or host.endswith(".localhost")) and host not in self.hosts:
            raise WebhookRefused(f"{host} is this machine: webhooks may not reach it")
        return target

    def check_address(self, host: str, address: Address | str) -> None:
        """Refuses ``address`` (one that ``host`` resolves to) unless it is public or
        the operator allowed the name or a network holding it."""
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        if host in self.hosts or self._in_allowed_network(ip):
            return
        why = blocked(ip)
        if why is not None:
            raise WebhookRefused(
                f"{host} is {ip}, a {why} address: webhooks may not reach it unless the "
                "operator allows it (TRUC_WEBHOOK_ALLOW_HOSTS)")

    def _allowed_name_or_network(self, host: str, address: Address | None) -> bool:
        return host in self.hosts or (address is not None and self._in_allowed_network(address))

    def _in_allowed_network(self, ip: Address) -> bool:
        candidates = {ip, embedded_ipv4(ip) or ip}
        return any(c.version == n.version and c in n for c in candidates for n in self.networks)


@functools.lru_cache(maxsize=8)
def parse_policy(text: str) -> TargetPolicy:
    """``TRUC_WEBHOOK_ALLOW_HOSTS``: host names, IP addresses and networks, separated by
    commas or spaces (``hooks.so-tttt.gov.vn, 10.20.0.0/16, 127.0.0.1``)."""
    hosts: set[str] = set()
    networks: list[Network] = []
    for entry in text.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            if "/" in entry or ":" in entry:
                raise ValueError(f"not a host name or IP network: {entry!r}") from None
            hosts.add(entry.rstrip(".").lower())
    return TargetPolicy(frozenset(hosts), tuple(networks))


def blocked(ip: Address) -> str | None:
    """Why a webhook may not reach ``ip`` by default, or None for a public address."""
    inner = embedded_ipv4(ip)
    if inner is not None:
        return blocked(inner)
    for why, hit in (("unspecified", ip.is_unspecified), ("loopback", ip.is_loopback),
                     ("link-local", ip.is_link_local), ("multicast", ip.is_multicast),
                     ("private", ip.is_private), ("reserved", ip.is_reserved)):
        if hit:
            return why
    return None if ip.is_global else "non-public"


def embedded_ipv4(ip: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one reaches: IPv4-mapped, 6to4, Teredo client, NAT64."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
