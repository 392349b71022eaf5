"""ChallFileUNC: copy the token file into a web root's `.well-known` directory (any
mounted path on POSIX), and ChallAlpnUNC: write the tls-alpn-01 certificate into a
directory a TLS server loads it from."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from ..atomic import PRIVATE, PUBLIC, write_atomic
from ..model import Account, Challenge, Order
from .base import ResponderError, SelfTest
from .common import domfile, file_page, well_known_dir_for
from .files import FileResponder
from .selftest import alpn_self_test
from .tls_alpn import make_alpn_certificate

__all__ = ["WebRootResponder", "AlpnDirResponder"]


class WebRootResponder(FileResponder):
    method = "http-01 via web root"

    def _target(self, challenge: Challenge, page: str, order: Order) -> Path:
        well_known = well_known_dir_for(challenge, order)
        if not well_known:
            raise ResponderError(
                f"{challenge.domain}: no .well-known directory set for the web root "
                "(DirWellKnown on the order or the SAN)"
            )
        challenge.well_known_dir = well_known
        return Path(well_known, *page.split("/"))

    def describe_page(self, challenge: Challenge, page: str, order: Order) -> tuple[str, str]:
        local = file_page(page.rsplit("/", 1)[-1])
        return local, str(self._target(challenge, page, order))

    async def put(self, challenge: Challenge, page: str, body: str, order: Order) -> str:
        target = self._target(challenge, page, order)

        def write() -> None:
            target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            write_atomic(target, body, PUBLIC)

        try:
            await asyncio.to_thread(write)
        except OSError as exc:
            raise ResponderError(f"{challenge.domain}: cannot write {target}: {exc}") from None
        return f"in {target}"

    async def remove(self, challenge: Challenge, page: str, order: Order) -> None:
        target = self._target(challenge, page, order)
        try:
            await asyncio.to_thread(target.unlink, missing_ok=True)
        except OSError as exc:
            raise ResponderError(f"{challenge.domain}: cannot remove {target}: {exc}") from None


class AlpnDirResponder:
    """Writes `acmealpn-<domfile>.pem` (certificate + key) into `order.alpn_dir` (else the
    account's work directory) for a TLS server that loads it; removes it afterwards."""

    needs_process = False
    method = "tls-alpn-01 certificate file"

    def _path(self, challenge: Challenge, order: Order, account: Account) -> Path:
        directory = order.alpn_dir or account.work_dir
        if not directory:
            raise ResponderError(
                f"{challenge.domain}: no directory set for the tls-alpn-01 certificate (--alpn-dir)"
            )
        return Path(directory, f"acmealpn-{domfile(challenge.domain)}.pem")

    async def prepare(self, challenge: Challenge, order: Order, account: Account) -> str:
        if challenge.wildcard:
            raise ResponderError(f"*.{challenge.domain}: tls-alpn-01 cannot validate a wildcard")
        path = self._path(challenge, order, account)
        cert_pem, key_pem = make_alpn_certificate(challenge.domain, challenge.key_authorization)
        try:
            await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
            await asyncio.to_thread(write_atomic, path, cert_pem + key_pem, PRIVATE)
        except OSError as exc:
            raise ResponderError(f"{challenge.domain}: cannot write {path}: {exc}") from None
        challenge.page = os.path.join("acme-challenge", path.name)
        challenge.alpn_cert = str(path)
        return f"{challenge.domain}: tls-alpn-01 certificate written to {path}"

    async def self_test(self, challenge: Challenge, order: Order, account: Account) -> SelfTest:
        return await alpn_self_test(challenge.domain, challenge.key_authorization, account)

    async def cleanup(self, challenge: Challenge, order: Order, account: Account) -> None:
        path = Path(challenge.alpn_cert) if challenge.alpn_cert else None
        if path is None:
            try:
                path = self._path(challenge, order, account)
            except ResponderError:
                return
        try:
            await asyncio.to_thread(path.unlink, missing_ok=True)
        except OSError as exc:
            raise ResponderError(f"{challenge.domain}: cannot remove {path}: {exc}") from None
