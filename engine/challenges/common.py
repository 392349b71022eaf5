"""Small pieces every responder shares: names, pages, values, listen addresses."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import re
from pathlib import Path

from ..model import Challenge, Order
from .base import ResponderError

__all__ = [
    "TOKEN_RE",
    "is_token",
    "dns_txt_value",
    "dns_record_name",
    "a_label",
    "domfile",
    "parse_hostport",
    "well_known_dir_for",
    "is_ip",
]

# RFC 8555 section 8.3: a token is base64url without padding; 22+ chars in practice.
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def is_token(name: str) -> bool:
    return bool(TOKEN_RE.match(name))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def dns_txt_value(key_authorization: str) -> str:
    """RFC 8555 section 8.4: base64url(SHA-256(key authorization))."""
    return b64url(hashlib.sha256(key_authorization.encode("utf-8")).digest())


def a_label(name: str) -> str:
    """The ASCII (IDNA) form of a name; ASCII names pass through unchanged."""
    name = name.rstrip(".").lower()
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ResponderError(f"{name!r} is not a valid domain name: {exc}") from None


def dns_record_name(domain: str) -> str:
    """`_acme-challenge.<A-label>` without a trailing dot, as ICS stores CPage."""
    return f"_acme-challenge.{a_label(domain.removeprefix('*.'))}"


def domfile(domain: str) -> str:
    """ICS IcsBuildCertFName: `.` and spaces become `_`, a leading `*` becomes `x`."""
    name = domain.lower()
    if name.startswith("*"):
        name = "x" + name[1:]
    return name.replace(".", "_").replace(" ", "_")


def is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def parse_hostport(text: str, default_port: int, default_host: str = "0.0.0.0") -> tuple[str, int]:
    """`ADDR:PORT`, `[v6]:PORT`, `ADDR`, `:PORT` or `PORT`."""
    text = text.strip()
    if not text:
        return default_host, default_port
    host, port = text, ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
    elif text.isdigit():
        host, port = "", text
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    if port and not port.isdigit():
        raise ResponderError(f"{text!r}: the port must be a number (ADDR:PORT)")
    number = int(port) if port else default_port
    if not 0 <= number <= 65535:
        raise ResponderError(f"{text!r}: port {number} is out of range")
    return host or default_host, number


def well_known_dir_for(challenge: Challenge, order: Order) -> str:
    """The `.well-known` directory for a challenge: its own, its SAN's, then the order's
    (ICS: an empty SAN DirWellKnown falls back to the domain's value)."""
    if challenge.well_known_dir:
        return challenge.well_known_dir
    san = order.san(challenge.identifier) or order.san(challenge.domain)
    if san is not None and san.well_known_dir:
        return san.well_known_dir
    return order.well_known_dir


def file_page(token: str) -> str:
    """CPage of a file copied or uploaded: a path below `.well-known`, in this OS's form
    (ICS writes `acme-challenge\\<token>` on Windows)."""
    return os.path.join("acme-challenge", token)


def url_page(token: str) -> str:
    """CPage of a file served by the built-in server: the URL path below `/.well-known/`."""
    return f"acme-challenge/{token}"


MAX_TOKEN_FILE = 1024  # a key authorization is well under this; anything larger is not one


def drop_dir(root: Path) -> Path:
    """Where token files live below a web root."""
    return root / ".well-known" / "acme-challenge"
