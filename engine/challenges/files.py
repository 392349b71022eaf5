"""What the http-01 methods share: put a page where the web server serves it below
`/.well-known/`, fetch it back as the CA will, remove it again. Subclasses say how a page
is put and removed (a web root copy, an FTP upload, the built-in server)."""

from __future__ import annotations

import secrets
from datetime import datetime

from ..model import Account, Challenge, Order
from .base import ResponderError, SelfTest
from .common import url_page
from .selftest import http_self_test

__all__ = ["FileResponder", "TEST_PREFIX"]

TEST_PREFIX = "icstestfile-"


class FileResponder:
    """Base of the http-01 responders. `page` below `.well-known` is always given in URL
    form (`acme-challenge/<token>`); subclasses map it onto their storage."""

    needs_process = False
    method = "http-01"

    async def put(self, challenge: Challenge, page: str, body: str, order: Order) -> str:
        """Publish `body` at `page`; return where it went, for a person."""
        raise NotImplementedError

    async def remove(self, challenge: Challenge, page: str, order: Order) -> None:
        raise NotImplementedError

    def describe_page(self, challenge: Challenge, page: str, order: Order) -> tuple[str, str]:
        """(CPage, CWKFullName) as ICS records them for this method."""
        return page, ""

    async def prepare(self, challenge: Challenge, order: Order, account: Account) -> str:
        if challenge.wildcard:
            raise ResponderError(
                f"*.{challenge.domain}: http-01 cannot validate a wildcard name; use dns-01"
            )
        if not challenge.token or not challenge.key_authorization:
            raise ResponderError(f"{challenge.domain}: the challenge has no token yet")
        page = url_page(challenge.token)
        challenge.page, challenge.wk_full_name = self.describe_page(challenge, page, order)
        where = await self.put(challenge, page, challenge.key_authorization, order)
        return f"{challenge.domain}: token published {where}"

    async def self_test(self, challenge: Challenge, order: Order, account: Account) -> SelfTest:
        return await http_self_test(
            challenge.domain, url_page(challenge.token), challenge.key_authorization, account
        )

    async def cleanup(self, challenge: Challenge, order: Order, account: Account) -> None:
        if challenge.token:
            await self.remove(challenge, url_page(challenge.token), order)

    async def check(self, domain: str, order: Order, account: Account) -> SelfTest:
        """The check-time test (ICS local test challenge): publish a random test file
        for `domain`, fetch it back, remove it."""
        token = TEST_PREFIX + secrets.token_urlsafe(12)
        body = f"My ICS Random String at {datetime.now():%Y-%m-%d %H:%M:%S} for {domain}"
        probe = Challenge(domain=domain, common_name=order.common_name, token=token)
        page = url_page(token)
        try:
            await self.put(probe, page, body, order)
        except ResponderError as exc:
            message = str(exc)  # FTP errors start with the server's URL: say which name failed
            if not message.startswith(f"{domain}:"):
                message = f"{domain}: {message}"
            return SelfTest(False, message)
        try:
            return await http_self_test(domain, page, body, account)
        finally:
            try:
                await self.remove(probe, page, order)
            except ResponderError:
                pass  # the test file is harmless; the result above matters more
