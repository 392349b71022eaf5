"""dns-01 propagation: find the authoritative name servers of a record's zone and ask
each of them directly until every one answers every expected TXT value."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import dns.asyncquery
import dns.asyncresolver
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver

from ..events import DnsPropagation, Event
from ..model import Account
from .base import ResponderError, SelfTest
from .common import parse_hostport
from .selftest import make_resolver

__all__ = [
    "NameServer",
    "resolver_for",
    "parse_servers",
    "follow_cname",
    "find_zone",
    "authoritative_servers",
    "query_txt",
    "wait_for_txt",
]

MAX_CNAME_HOPS = 8
_FIRST_INTERVAL = 0.05  # a fast server is not waited on
_MAX_INTERVAL = 5.0


@dataclass(frozen=True)
class NameServer:
    address: str
    port: int = 53
    name: str = ""  # the NS host name, when discovered

    def __str__(self) -> str:
        where = f"{self.address}:{self.port}" if self.port != 53 else self.address
        return f"{self.name} ({where})" if self.name else where


def resolver_for(account: Account) -> dns.asyncresolver.Resolver:
    """`account.resolver` (HOST:PORT) when set, else the system's resolver."""
    if account.resolver:
        return make_resolver(account.resolver)
    resolver = dns.asyncresolver.Resolver()
    resolver.lifetime = 5.0
    return resolver


def parse_servers(entries: Iterable[str]) -> list[NameServer]:
    return [NameServer(*parse_hostport(e, 53, default_host="127.0.0.1")) for e in entries if e]


def _fqdn(name: str) -> dns.name.Name:
    return dns.name.from_text(name.rstrip(".") + ".")


async def follow_cname(name: str, resolver: dns.asyncresolver.Resolver) -> str:
    """Where a CNAME at `name` leads (the CA follows it too); `name` itself when none."""
    current = _fqdn(name)
    for _ in range(MAX_CNAME_HOPS):
        try:
            answer = await resolver.resolve(current, "CNAME", raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return current.to_text(omit_final_dot=True)
        except dns.exception.DNSException as exc:
            raise ResponderError(f"cannot look up {current}: {_why(exc)}") from None
        if answer.rrset is None:
            return current.to_text(omit_final_dot=True)
        current = answer.rrset[0].target
    raise ResponderError(f"{name}: more than {MAX_CNAME_HOPS} CNAMEs in a row")


async def find_zone(name: str, resolver: dns.asyncresolver.Resolver) -> str:
    """The zone `name` lives in (the nearest SOA at or above it)."""
    try:
        zone = await dns.asyncresolver.zone_for_name(_fqdn(name), resolver=resolver)
    except dns.exception.DNSException as exc:
        raise ResponderError(f"cannot find the zone of {name}: {_why(exc)}") from None
    return zone.to_text(omit_final_dot=True)


async def authoritative_servers(
    zone: str, resolver: dns.asyncresolver.Resolver
) -> list[NameServer]:
    """The zone's NS hosts and their addresses (port 53)."""
    try:
        answer = await resolver.resolve(_fqdn(zone), "NS")
    except dns.exception.DNSException as exc:
        raise ResponderError(f"cannot find the name servers of {zone}: {_why(exc)}") from None
    servers: list[NameServer] = []
    for rdata in answer:
        host = rdata.target.to_text(omit_final_dot=True)
        for rdtype in ("A", "AAAA"):
            try:
                addresses = await resolver.resolve(host, rdtype)
            except dns.exception.DNSException:
                continue
            servers += [NameServer(a.address, 53, host) for a in addresses]
    if not servers:
        raise ResponderError(f"the name servers of {zone} have no address")
    return servers


async def query_txt(server: NameServer, name: str, timeout: float = 3.0) -> set[str]:
    """The TXT values `server` itself answers for `name` (no recursion)."""
    query = dns.message.make_query(_fqdn(name), "TXT")
    query.flags &= ~dns.flags.RD
    response, _ = await dns.asyncquery.udp_with_fallback(
        query, server.address, port=server.port, timeout=timeout
    )
    rcode = response.rcode()
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        raise ResponderError(f"{server} answered {dns.rcode.to_text(rcode)}")
    values: set[str] = set()
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.TXT and rrset.name == query.question[0].name:
            values |= {b"".join(r.strings).decode("utf-8", "replace") for r in rrset}
    return values


async def wait_for_txt(
    record: str,
    expected: set[str],
    servers: list[NameServer],
    *,
    timeout: float,
    cn: str = "",
    on_event: Callable[[Event], None] | None = None,
) -> SelfTest:
    """Poll every server until all answer all `expected` values or `timeout` seconds
    pass; publish a DnsPropagation event whenever the picture changes."""
    deadline = time.monotonic() + max(timeout, 0.0)
    interval = _FIRST_INTERVAL
    ready: set[NameServer] = set()
    notes: dict[NameServer, str] = {}
    shown: tuple | None = None
    while True:
        pending = [s for s in servers if s not in ready]
        results = await asyncio.gather(
            *(query_txt(s, record) for s in pending), return_exceptions=True
        )
        for server, result in zip(pending, results, strict=True):
            if isinstance(result, BaseException):
                notes[server] = _why(result)
            elif expected <= result:
                ready.add(server)
                notes.pop(server, None)
            else:
                missing = len(expected - result)
                notes[server] = f"{missing} of {len(expected)} values missing"
        picture = (
            tuple(str(s) for s in servers if s in ready),
            tuple(str(s) for s in servers if s not in ready),
        )
        if on_event is not None and picture != shown:
            on_event(DnsPropagation(cn, record=record, ready=picture[0], waiting=picture[1]))
        shown = picture
        if len(ready) == len(servers):
            return SelfTest(
                True, f"{record}: all {len(servers)} name servers answer ({', '.join(picture[0])})"
            )
        left = deadline - time.monotonic()
        if left <= 0:
            waiting = "; ".join(
                f"{s}: {notes.get(s, 'not yet')}" for s in servers if s not in ready
            )
            return SelfTest(
                False,
                f"{record}: {len(ready)}/{len(servers)} name servers answer after "
                f"{timeout:g} s; waiting for {waiting}",
                waiting=True,
            )
        await asyncio.sleep(min(interval, left))
        interval = min(interval * 2, _MAX_INTERVAL)


def _why(exc: BaseException) -> str:
    if isinstance(exc, dns.exception.Timeout):
        return "no answer (time-out)"
    if isinstance(exc, dns.resolver.NoNameservers):
        return "no server answered (refused or failed)"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc) or type(exc).__name__
