"""ChallDnsMan: show the TXT record a person must create, then watch the zone's
authoritative servers until all of them answer it. Also the base of ChallDnsAuto."""

from __future__ import annotations

from collections.abc import Callable

from ..events import Event, LogLine, WaitingForPerson
from ..model import Account, Challenge, Order
from .base import ResponderError, SelfTest
from .common import dns_record_name, dns_txt_value
from .dns_check import (
    NameServer,
    authoritative_servers,
    find_zone,
    follow_cname,
    parse_servers,
    resolver_for,
    wait_for_txt,
)

__all__ = ["DnsResponder", "DnsManualResponder", "TXT_TTL"]

TXT_TTL = 60


class DnsResponder:
    """dns-01 common ground: the record name and value, the propagation self-test.

    One instance serves one order, so the values it prepared at one name (a wildcard and
    its apex share `_acme-challenge.<name>`) are all expected there together."""

    needs_process = False
    method = "dns-01"

    def __init__(self, on_event: Callable[[Event], None] | None = None) -> None:
        self.on_event = on_event
        self._values: dict[str, set[str]] = {}  # record name -> values prepared

    def fill(self, challenge: Challenge) -> tuple[str, str]:
        if not challenge.key_authorization:
            raise ResponderError(f"{challenge.identifier}: the challenge has no key authorization")
        record = dns_record_name(challenge.domain)
        challenge.page = record
        challenge.dns_value = dns_txt_value(challenge.key_authorization)
        self._values.setdefault(record, set()).add(challenge.dns_value)
        return record, challenge.dns_value

    def expected(self, challenge: Challenge) -> set[str]:
        record, value = self.fill(challenge)
        return self._values[record] | {value}

    def emit(self, event: Event) -> None:
        if self.on_event is not None:
            self.on_event(event)

    async def servers_for(self, name: str, order: Order, account: Account) -> list[NameServer]:
        """Who is asked: `order.dns_check_servers` when set, else the zone's NS hosts."""
        if order.dns_check_servers:
            return parse_servers(order.dns_check_servers)
        resolver = resolver_for(account)
        zone = await find_zone(name, resolver)
        return await authoritative_servers(zone, resolver)

    async def effective_name(self, record: str, account: Account) -> str:
        return await follow_cname(record, resolver_for(account))

    async def self_test(self, challenge: Challenge, order: Order, account: Account) -> SelfTest:
        expected = self.expected(challenge)
        try:
            name = await self.effective_name(challenge.page, account)
            servers = await self.servers_for(name, order, account)
        except ResponderError as exc:
            return SelfTest(False, f"{challenge.page}: {exc}", waiting=True)
        return await wait_for_txt(
            name,
            expected,
            servers,
            timeout=order.dns_timeout,
            cn=order.common_name,
            on_event=self.on_event,
        )


class DnsManualResponder(DnsResponder):
    method = "dns-01 by hand"

    def record_line(self, record: str, value: str) -> str:
        return f'{record}. {TXT_TTL} IN TXT "{value}"'

    async def prepare(self, challenge: Challenge, order: Order, account: Account) -> str:
        record, value = self.fill(challenge)
        line = f"create the TXT record {self.record_line(record, value)}"
        if len(self._values[record]) > 1:
            line += f" (one of {len(self._values[record])} values at this name; keep them all)"
        self.emit(WaitingForPerson(order.common_name, what=line))
        return line

    async def self_test(self, challenge: Challenge, order: Order, account: Account) -> SelfTest:
        result = await super().self_test(challenge, order, account)
        if not result.ok:
            record, value = self.fill(challenge)
            result.detail += f"; the record to create: {self.record_line(record, value)}"
        return result

    async def cleanup(self, challenge: Challenge, order: Order, account: Account) -> None:
        # The person created it; the person removes it. Say so.
        if challenge.page and challenge.dns_value:
            self.emit(
                LogLine(
                    order.common_name,
                    f'the TXT record {challenge.page} "{challenge.dns_value}" may now be removed',
                )
            )
