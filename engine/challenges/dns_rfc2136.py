"""ChallDnsAuto: add the TXT records by RFC 2136 dynamic update, signed with TSIG, and
remove exactly those values afterwards. A CNAME at `_acme-challenge.<name>` is followed
and the zone it points into is updated instead. The TSIG secret never appears in a
message or a log line."""

from __future__ import annotations

import base64
import binascii

import dns.asyncquery
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.update

from ..model import Account, Challenge, Order
from .base import ResponderError, SelfTest
from .common import parse_hostport
from .dns_check import MAX_CNAME_HOPS, NameServer
from .dns_manual import TXT_TTL, DnsResponder

__all__ = ["Rfc2136Responder", "TSIG_ALGORITHMS"]

TSIG_ALGORITHMS = {
    "hmac-sha256": dns.tsig.HMAC_SHA256,
    "hmac-sha384": dns.tsig.HMAC_SHA384,
    "hmac-sha512": dns.tsig.HMAC_SHA512,
    "hmac-sha224": dns.tsig.HMAC_SHA224,
    "hmac-sha1": dns.tsig.HMAC_SHA1,
}
_TIMEOUT = 10.0


class Rfc2136Responder(DnsResponder):
    method = "dns-01 by RFC 2136 update"
    timeout = _TIMEOUT

    def __init__(self, on_event=None) -> None:
        super().__init__(on_event)
        self._targets: dict[str, tuple[str, str]] = {}  # record -> (target name, zone)

    # -- configuration ------------------------------------------------------------

    def _server(self, order: Order) -> NameServer:
        if not order.dns_server:
            raise ResponderError(
                f"{order.common_name}: no DNS server set for dns-auto (--dns-server HOST[:PORT])"
            )
        return NameServer(*parse_hostport(order.dns_server, 53, default_host="127.0.0.1"))

    def _key(self, order: Order) -> dns.tsig.Key | None:
        if not order.tsig_name:
            return None  # an unsigned update: only for servers that allow it by address
        algorithm = TSIG_ALGORITHMS.get((order.tsig_algorithm or "hmac-sha256").lower())
        if algorithm is None:
            raise ResponderError(
                f"TSIG algorithm {order.tsig_algorithm!r} is not one of "
                f"{', '.join(TSIG_ALGORITHMS)}"
            )
        try:
            secret = base64.b64decode(order.tsig_secret, validate=True)
        except (binascii.Error, ValueError):
            raise ResponderError(
                f"the TSIG secret of key {order.tsig_name} is not valid base64"
            ) from None
        if not secret:
            raise ResponderError(f"the TSIG key {order.tsig_name} has no secret")
        return dns.tsig.Key(order.tsig_name, secret, algorithm)

    # -- talking to the primary -------------------------------------------------------

    async def _ask(self, server: NameServer, name: dns.name.Name, rdtype: str):
        # TCP, as the update itself goes: a server that is down says so at once.
        query = dns.message.make_query(name, rdtype)
        try:
            return await dns.asyncquery.tcp(
                query, server.address, port=server.port, timeout=self.timeout
            )
        except dns.exception.Timeout:
            raise ResponderError(f"DNS server {server} does not answer (time-out)") from None
        except OSError as exc:
            why = exc.strerror or str(exc)
            raise ResponderError(f"DNS server {server} unreachable: {why}") from None

    async def _locate(self, record: str, order: Order) -> tuple[str, str]:
        """(name to update, its zone): CNAMEs at the update server followed, the zone
        from `order.dns_zone` when the name lies in it, else from the SOA the server
        answers with."""
        if record in self._targets:
            return self._targets[record]
        server = self._server(order)
        name = dns.name.from_text(record.rstrip(".") + ".")
        for _ in range(MAX_CNAME_HOPS):
            response = await self._ask(server, name, "CNAME")
            cname = next(
                (r for r in response.answer if r.rdtype == dns.rdatatype.CNAME and r.name == name),
                None,
            )
            if cname is None:
                break
            name = cname[0].target
        zone = await self._zone(server, name, order)
        located = (name.to_text(omit_final_dot=True), zone)
        self._targets[record] = located
        return located

    async def _zone(self, server: NameServer, name: dns.name.Name, order: Order) -> str:
        if order.dns_zone:
            configured = dns.name.from_text(order.dns_zone.rstrip(".") + ".")
            if name.is_subdomain(configured):
                return configured.to_text(omit_final_dot=True)
        response = await self._ask(server, name, "SOA")
        if response.rcode() == dns.rcode.REFUSED:
            raise ResponderError(
                f"DNS server {server} refused to say which zone holds {name} "
                "(it is not authoritative for it); set the zone with --dns-zone"
            )
        for section in (response.answer, response.authority):
            for rrset in section:
                if rrset.rdtype == dns.rdatatype.SOA:
                    return rrset.name.to_text(omit_final_dot=True)
        raise ResponderError(
            f"zone of {name} not found at DNS server {server} "
            f"({dns.rcode.to_text(response.rcode())}); set it with --dns-zone"
        )

    async def _update(self, order: Order, zone: str, name: str, value: str, *, add: bool) -> None:
        server = self._server(order)
        key = self._key(order)
        message = dns.update.UpdateMessage(zone + ".", keyring=key)
        owner = dns.name.from_text(name + ".")
        txt = '"' + value + '"'  # base64url: no quote or backslash to escape
        if add:
            message.add(owner, TXT_TTL, "TXT", txt)  # add, never replace: apex + wildcard
        else:
            message.delete(owner, "TXT", txt)  # exactly our own value
        what = f"update of {name} TXT in zone {zone} at {server}"
        try:
            response = await dns.asyncquery.tcp(
                message, server.address, port=server.port, timeout=self.timeout
            )
        except dns.tsig.PeerBadKey:
            raise ResponderError(
                f"{what} refused: the server does not know TSIG key {order.tsig_name} "
                f"({order.tsig_algorithm or 'hmac-sha256'})"
            ) from None
        except (dns.tsig.PeerBadSignature, dns.tsig.BadSignature):
            raise ResponderError(
                f"{what} refused: wrong TSIG secret or algorithm for key {order.tsig_name}"
            ) from None
        except dns.tsig.PeerBadTime:
            raise ResponderError(f"{what} refused: TSIG clock skew with the server") from None
        except dns.exception.Timeout:
            raise ResponderError(f"{what} failed: the server does not answer") from None
        except OSError as exc:
            raise ResponderError(f"{what} failed: {exc.strerror or exc}") from None
        except dns.exception.DNSException as exc:
            raise ResponderError(f"{what} failed: {exc}") from None
        rcode = response.rcode()
        if rcode != dns.rcode.NOERROR:
            hint = {
                dns.rcode.REFUSED: "the key (or this address) may not update that zone",
                dns.rcode.NOTAUTH: "the server is not authoritative for that zone",
                dns.rcode.NOTZONE: "the name is outside that zone",
                dns.rcode.SERVFAIL: "the server failed",
            }.get(rcode, "")
            text = dns.rcode.to_text(rcode)
            raise ResponderError(f"{what} refused: {text}" + (f" ({hint})" if hint else ""))

    # -- Responder ----------------------------------------------------------------------

    async def prepare(self, challenge: Challenge, order: Order, account: Account) -> str:
        record, value = self.fill(challenge)
        name, zone = await self._locate(record, order)
        await self._update(order, zone, name, value, add=True)
        via = f" (CNAME from {record})" if name != record else ""
        return f'added TXT {name} "{value}"{via} in zone {zone} at {self._server(order)}'

    async def effective_name(self, record: str, account: Account) -> str:
        located = self._targets.get(record)
        return located[0] if located else await super().effective_name(record, account)

    async def servers_for(self, name: str, order: Order, account: Account) -> list[NameServer]:
        if order.dns_check_servers:
            return await super().servers_for(name, order, account)
        try:
            return await super().servers_for(name, order, account)
        except ResponderError:
            # A private zone the resolver does not know: the primary is the one to ask.
            return [self._server(order)]

    async def self_test(self, challenge: Challenge, order: Order, account: Account) -> SelfTest:
        record, _ = self.fill(challenge)
        try:
            await self._locate(record, order)
        except ResponderError as exc:
            return SelfTest(False, str(exc))
        return await super().self_test(challenge, order, account)

    async def cleanup(self, challenge: Challenge, order: Order, account: Account) -> None:
        if not challenge.key_authorization:
            return
        record, value = self.fill(challenge)
        name, zone = await self._locate(record, order)
        await self._update(order, zone, name, value, add=False)
        self._values.get(record, set()).discard(value)
