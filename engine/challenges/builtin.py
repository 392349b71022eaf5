"""ChallFileSrv and ChallAlpnSrv: answers served by this process's own listeners (see
`host.ResponderHost`). The process must stay up until the CA has validated."""

from __future__ import annotations

from ..model import Account, Challenge, Order
from .base import ResponderError, SelfTest
from .files import FileResponder
from .host import ResponderHost
from .selftest import alpn_self_test

__all__ = ["BuiltinHttpResponder", "BuiltinAlpnResponder"]


class BuiltinHttpResponder(FileResponder):
    needs_process = True
    method = "http-01 via the built-in web server"

    def __init__(self, host: ResponderHost, listen: str) -> None:
        self.host = host
        self.listen = listen or "0.0.0.0:80"

    async def put(self, challenge: Challenge, page: str, body: str, order: Order) -> str:
        server, table = await self.host.http(self.listen)
        table.add(page, body)
        address, port = server.address
        return f"by the built-in server on {address}:{port}"

    async def remove(self, challenge: Challenge, page: str, order: Order) -> None:
        running = self.host.running_http(self.listen)
        if running is not None:  # nothing to remove from a server that is not up
            running[1].remove(page)


class BuiltinAlpnResponder:
    needs_process = True
    method = "tls-alpn-01 via the built-in TLS server"

    def __init__(self, host: ResponderHost, listen: str) -> None:
        self.host = host
        self.listen = listen or "0.0.0.0:443"

    async def prepare(self, challenge: Challenge, order: Order, account: Account) -> str:
        if challenge.wildcard:
            raise ResponderError(f"*.{challenge.domain}: tls-alpn-01 cannot validate a wildcard")
        if not challenge.key_authorization:
            raise ResponderError(f"{challenge.domain}: the challenge has no key authorization")
        server = await self.host.alpn(self.listen)
        server.add(challenge.domain, challenge.key_authorization)
        challenge.page = ""
        address, port = server.address
        return f"{challenge.domain}: tls-alpn-01 certificate served on {address}:{port}"

    async def self_test(self, challenge: Challenge, order: Order, account: Account) -> SelfTest:
        return await alpn_self_test(challenge.domain, challenge.key_authorization, account)

    async def cleanup(self, challenge: Challenge, order: Order, account: Account) -> None:
        server = self.host.running_alpn(self.listen)
        if server is not None:
            server.remove(challenge.domain)
