"""Which URLs may receive webhooks: never private, loopback or link-local addresses (SSRF), except in
dev mode. Standard library only, so the API checks URLs without loading an HTTP client."""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit

_DNS_NAME = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9])?)*\.?$")


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return len(host) <= 253 and bool(_DNS_NAME.match(host))


class UrlGuard:
    """Refuses webhook URLs that resolve to private, loopback or link-local addresses (SSRF),
    except in dev mode, where merchants' test receivers run on loopback."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    def check(self, url: str) -> str | None:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return "url must be an absolute http(s) URL"
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return "url must be an absolute http(s) URL"
        if port == 0:
            return "url port must be between 1 and 65535"
        if parts.username or parts.password:
            return "url must not carry credentials"
        if any(c.isspace() or not c.isprintable() for c in url) or not _valid_host(parts.hostname):
            return "url must be an absolute http(s) URL with a valid host name"
        if self.allow_private:
            return None
        if parts.scheme != "https":
            return "url must use https"
        try:
            infos = socket.getaddrinfo(parts.hostname, port or 443, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError):
            return f"url host {parts.hostname!r} does not resolve"
        for info in infos:
            address = ipaddress.ip_address(info[4][0].split("%")[0])
            if not address.is_global or address.is_multicast:
                return "url resolves to a private, loopback or link-local address"
        return None
