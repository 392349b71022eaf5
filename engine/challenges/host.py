"""The process's built-in challenge servers: one HTTP and one TLS-ALPN listener per
address, started the first time a responder needs it and shared by every order."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .common import parse_hostport

if TYPE_CHECKING:  # the servers load on first use: most commands never start one
    from .http_server import TokenTable, WellKnownHttpServer
    from .tls_alpn import AlpnServer

__all__ = ["ResponderHost"]


class ResponderHost:
    """Owns the listeners; `aclose()` stops them all. Use one per process."""

    def __init__(self) -> None:
        self._http: dict[tuple[str, int], tuple[WellKnownHttpServer, TokenTable]] = {}
        self._alpn: dict[tuple[str, int], AlpnServer] = {}
        self._lock = asyncio.Lock()

    async def http(self, listen: str) -> tuple[WellKnownHttpServer, TokenTable]:
        """The running http-01 server on `listen` (default 0.0.0.0:80) and its live pages."""
        where = parse_hostport(listen, 80)
        async with self._lock:
            if where not in self._http:
                from .http_server import TokenTable, WellKnownHttpServer

                table = TokenTable()
                server = WellKnownHttpServer(table.lookup, *where)
                await server.start()
                self._http[where] = (server, table)
            return self._http[where]

    async def alpn(self, listen: str) -> AlpnServer:
        """The running tls-alpn-01 server on `listen` (default 0.0.0.0:443)."""
        where = parse_hostport(listen, 443)
        async with self._lock:
            if where not in self._alpn:
                from .tls_alpn import AlpnServer

                server = AlpnServer(*where)
                await server.start()
                self._alpn[where] = server
            return self._alpn[where]

    def running_http(self, listen: str) -> tuple[WellKnownHttpServer, TokenTable] | None:
        return self._http.get(parse_hostport(listen, 80))

    def running_alpn(self, listen: str) -> AlpnServer | None:
        return self._alpn.get(parse_hostport(listen, 443))

    @property
    def listening(self) -> list[str]:
        """What is being served, for a status line: `http 0.0.0.0:80 (2 tokens)`."""
        lines = [
            f"http {s.address[0]}:{s.address[1]} ({len(t)} live)" for s, t in self._http.values()
        ]
        lines += [
            f"tls-alpn {s.address[0]}:{s.address[1]} ({len(s)} live)" for s in self._alpn.values()
        ]
        return lines

    async def aclose(self) -> None:
        async with self._lock:
            for server, _ in self._http.values():
                await server.aclose()
            for alpn in self._alpn.values():
                await alpn.aclose()
            self._http.clear()
            self._alpn.clear()

    async def __aenter__(self) -> ResponderHost:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
