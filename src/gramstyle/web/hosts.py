"""Which hosts a server answers to: the loopback check and a strict Host parser.

A ``Host`` header (and an ``Origin``'s authority) is ``host [":" port]`` as RFC 3986
spells it, minus what has no business there: no userinfo (``localhost:80@evil.com``),
nothing after an IPv6 literal's ``]`` but a port (``[::1]evil.com``), no zone id, no
percent-encoding. Anything else is refused rather than guessed at, since a lenient
parse is how a rebinding attack gets a foreign name past a loopback check.
"""

from __future__ import annotations

import ipaddress
import re

#: A registered name as DNS and RFC 3986's unreserved characters allow (no "%", no
#: sub-delimiters, no "@"): letters, digits, "-", ".", "_", "~".
REG_NAME = re.compile(r"[A-Za-z0-9._~-]+")
PORT = re.compile(r"[0-9]{1,5}")


def is_loopback(host: str) -> bool:
    """``127.0.0.1``, ``::1``, ``localhost``; a name that could resolve elsewhere is not."""
    h = host.strip("[]").lower()
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def parse_authority(value: str) -> tuple[str, int | None]:
    """``"[::1]:8000"`` -> ``("::1", 8000)``, ``"LocalHost"`` -> ``("localhost", None)``.

    The host comes back lower-cased, an IP address in its normal form. Raises
    ValueError saying what is wrong with anything that is not exactly a host and an
    optional port.

    >>> parse_authority("127.0.0.1:80"), parse_authority("[0:0::1]")
    (('127.0.0.1', 80), ('::1', None))
    >>> parse_authority("localhost:80@evil.com")
    Traceback (most recent call last):
    ValueError: a port must be digits only
    """
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            raise ValueError("an IPv6 address without its closing ']'")
        literal, rest = value[1:end], value[end + 1 :]
        if "%" in literal:
            raise ValueError("a zone id has no place in a Host")
        try:
            host = str(ipaddress.IPv6Address(literal))
        except ValueError:
            raise ValueError(f"{literal!r} is not an IPv6 address") from None
        if rest and not rest.startswith(":"):
            raise ValueError("only a port may follow an IPv6 address's ']'")
        port = rest[1:] if rest else None
    else:
        host, sep, tail = value.partition(":")
        port = tail if sep else None
        if not REG_NAME.fullmatch(host):
            raise ValueError("a host name is letters, digits, '-', '.', '_' or '~'")
        try:
            host = str(ipaddress.IPv4Address(host))
        except ValueError:
            host = host.lower()
    if port is None or port == "":  # RFC 3986 allows "host:" (the scheme's default)
        return host, None
    if not PORT.fullmatch(port):
        raise ValueError("a port must be digits only")
    if int(port) > 65535:
        raise ValueError(f"port {port} is over 65535")
    return host, int(port)
