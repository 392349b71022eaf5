"""The Responder interface: how a challenge's response is put where the CA will look.

One responder per challenge method (web root copy, FTP upload, built-in HTTP or TLS-ALPN
server, DNS by hand or by RFC 2136). The workflow calls, for each challenge of an order:

    prepare   -> put the response in place (write a file, add a TXT record, serve a token)
    self_test -> prove it is reachable as the CA will reach it, before asking the CA
    cleanup   -> remove it again, after validation or when the order is abandoned

Responders never touch the account database; they read the records they are given and
may fill the challenge fields that describe where the response went (`page`,
`wk_full_name`, `dns_value`, `alpn_cert`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..model import Account, Challenge, Order

__all__ = ["ResponderError", "SelfTest", "Responder"]


class ResponderError(Exception):
    """The response could not be put in place or removed; `str()` says where and why."""


@dataclass
class SelfTest:
    ok: bool
    detail: str  # the URL or servers checked, and what came back
    waiting: bool = False  # not yet there but may still appear (DNS propagation, a person)


@runtime_checkable
class Responder(Protocol):
    async def prepare(self, challenge: Challenge, order: Order, account: Account) -> str:
        """Put the response in place; return a line that tells a person what was done."""

    async def self_test(self, challenge: Challenge, order: Order, account: Account) -> SelfTest: ...

    async def cleanup(self, challenge: Challenge, order: Order, account: Account) -> None: ...
