"""Self-tests of http-01 and tls-alpn-01 ("Test Well-Known"): reach the name as the CA
will, through the account's resolver and on its validation ports, and compare."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import dns.asyncresolver
import dns.exception
import dns.resolver
import httpx

from ..model import Account
from .base import SelfTest
from .common import is_ip, parse_hostport
from .tls_alpn import ACME_TLS_ALPN, check_alpn_certificate, fetch_alpn_certificate

__all__ = ["resolve_addresses", "http_self_test", "alpn_self_test", "make_resolver"]

_SHOWN = 120  # characters of a wrong body shown in a failure


def make_resolver(server: str) -> dns.asyncresolver.Resolver:
    """A resolver that asks only `server` (HOST[:PORT], default port 53)."""
    host, port = parse_hostport(server, 53, default_host="127.0.0.1")
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = [host]
    resolver.port = port
    resolver.lifetime = 5.0
    return resolver


async def resolve_addresses(name: str, account: Account) -> list[str]:
    """The addresses of `name`: the literal for an IP, else A then AAAA through
    `account.resolver` when set, else the system resolver."""
    if is_ip(name):
        return [name.strip("[]")]
    if account.resolver:
        resolver = make_resolver(account.resolver)
        found: list[str] = []
        for rdtype in ("A", "AAAA"):
            try:
                answer = await resolver.resolve(name, rdtype)
            except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
                continue
            except dns.exception.DNSException as exc:
                raise OSError(f"resolver {account.resolver} failed for {name}: {exc}") from None
            found += [r.address for r in answer]
        if not found:
            raise OSError(f"{name} has no A or AAAA record at resolver {account.resolver}")
        return found
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve {name}: {exc.strerror}") from None
    return list(dict.fromkeys(info[4][0] for info in infos))


def _url(address: str, port: int, path: str) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}{'' if port == 80 else f':{port}'}{path}"


async def http_self_test(name: str, page: str, expected: str, account: Account) -> SelfTest:
    """GET `http://<name>:<validation port>/.well-known/<page>` and compare the body
    (the CA trims surrounding white space, so do we)."""
    port = account.validation_http_port or 80
    shown = _url(name if not is_ip(name) else name.strip("[]"), port, f"/.well-known/{page}")
    try:
        addresses = await resolve_addresses(name, account)
    except OSError as exc:
        return SelfTest(False, f"{shown}: {exc}")
    host_header = name if port == 80 else f"{name}:{port}"
    if is_ip(name) and ":" in name.strip("[]"):
        host_header = f"[{name.strip('[]')}]" + ("" if port == 80 else f":{port}")
    last = ""
    async with httpx.AsyncClient(
        timeout=10.0, follow_redirects=True, verify=False, trust_env=False
    ) as client:
        for address in addresses:
            url = _url(address, port, f"/.well-known/{page}")
            try:
                response = await client.get(url, headers={"Host": host_header})
            except httpx.HTTPError as exc:
                last = f"{shown} ({address}): {type(exc).__name__}: {exc or 'no answer'}"
                continue
            body = response.text.strip()
            if response.status_code == 200 and body == expected.strip():
                return SelfTest(True, f"{shown} ({address}) answered the expected content")
            text = body if len(body) <= _SHOWN else body[:_SHOWN] + "..."
            return SelfTest(
                False, f"{shown} ({address}): HTTP {response.status_code}, got {text!r}"
            )
    return SelfTest(False, last or f"{shown}: no address to try")


async def alpn_self_test(name: str, key_authorization: str, account: Account) -> SelfTest:
    """Connect to `name` on the TLS validation port with ALPN acme-tls/1 and SNI and
    check the certificate served (RFC 8737)."""
    port = account.validation_tls_port or 443
    try:
        addresses = await resolve_addresses(name, account)
    except OSError as exc:
        return SelfTest(False, f"tls-alpn-01 {name}:{port}: {exc}")
    last = ""
    for address in addresses:
        where = f"tls-alpn-01 {name}:{port} ({address})"
        try:
            cert, alpn = await fetch_alpn_certificate(address, port, name)
        except (OSError, TimeoutError) as exc:
            last = f"{where}: {type(exc).__name__}: {exc}"
            continue
        if alpn != ACME_TLS_ALPN:
            return SelfTest(False, f"{where}: the server did not select ALPN {ACME_TLS_ALPN}")
        problem = check_alpn_certificate(cert, _plain(name), key_authorization)
        if problem:
            return SelfTest(False, f"{where}: {problem}")
        return SelfTest(True, f"{where} presented the challenge certificate")
    return SelfTest(False, last)


def _plain(name: str) -> str:
    try:
        return str(ipaddress.ip_address(name.strip("[]")))
    except ValueError:
        return name
