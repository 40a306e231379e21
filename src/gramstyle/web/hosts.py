"""Which hosts a server answers to: the loopback check behind its defences."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """``127.0.0.1``, ``::1``, ``localhost``; a name that could resolve elsewhere is not."""
    h = host.strip("[]").lower()
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False
