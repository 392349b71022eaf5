"""A minimal asyncio HTTP/1.1 server for http-01: it answers GET/HEAD below `/.well-known/`
from a lookup function and 404 for everything else. One request per connection.

The CA and the self-test are the only clients, so the server is deliberately small: no
keep-alive, no chunked bodies, a bounded request head.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from urllib.parse import unquote

from .base import ResponderError

__all__ = ["WellKnownHttpServer", "TokenTable"]

Lookup = Callable[[str], bytes | None]  # page below /.well-known/ -> body, or None

_MAX_HEAD = 8192
_READ_TIMEOUT = 10.0
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}


class TokenTable:
    """The live pages of the built-in server: only what a responder registered is served."""

    def __init__(self) -> None:
        self._pages: dict[str, bytes] = {}

    def add(self, page: str, body: str | bytes) -> None:
        self._pages[page] = body.encode("utf-8") if isinstance(body, str) else body

    def remove(self, page: str) -> None:
        self._pages.pop(page, None)

    def __contains__(self, page: str) -> bool:
        return page in self._pages

    def __len__(self) -> int:
        return len(self._pages)

    def lookup(self, page: str) -> bytes | None:
        return self._pages.get(page)


class WellKnownHttpServer:
    def __init__(self, lookup: Lookup, host: str = "0.0.0.0", port: int = 80) -> None:
        self.lookup = lookup
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def address(self) -> tuple[str, int]:
        """The address actually bound (the port is known after `start()` with port 0)."""
        if self._server is None:
            return self.host, self.port
        return self._server.sockets[0].getsockname()[:2]

    async def start(self) -> None:
        if self._server is not None:
            return
        try:
            self._server = await asyncio.start_server(self._handle, self.host, self.port)
        except OSError as exc:
            raise ResponderError(
                f"cannot listen for http-01 on {self.host}:{self.port}: {exc.strerror or exc}"
            ) from None

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_TIMEOUT)
            status, body, method = self._respond(head)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            status, body, method = 400, b"bad request\n", "GET"
        except ConnectionError:
            writer.close()
            return
        reason = _REASONS.get(status, "Error")
        ctype = "application/octet-stream" if status == 200 else "text/plain; charset=utf-8"
        header = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\nServer: certdesk\r\n\r\n"
        ).encode("ascii")
        with contextlib.suppress(ConnectionError):
            writer.write(header if method == "HEAD" else header + body)
            await writer.drain()
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()

    def _respond(self, head: bytes) -> tuple[int, bytes, str]:
        if len(head) > _MAX_HEAD:
            return 400, b"request head too large\n", "GET"
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            return 400, b"bad request line\n", "GET"
        method, target = parts[0], parts[1]
        if method not in ("GET", "HEAD"):
            return 405, b"only GET and HEAD\n", method
        path = unquote(target.split("?", 1)[0])
        if path.startswith("http://"):  # absolute form
            path = "/" + path.split("/", 3)[-1]
        page = path.removeprefix("/.well-known/") if path.startswith("/.well-known/") else None
        body = self.lookup(page) if page else None
        if body is None:
            return 404, b"not found\n", method
        return 200, body, method
