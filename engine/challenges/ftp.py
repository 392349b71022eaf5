"""ChallFileFtp: upload the token file into `.well-known/acme-challenge/` on an FTP
server (plain or explicit TLS, passive mode), delete it after validation. ftplib blocks,
so every session runs in a worker thread."""

from __future__ import annotations

import asyncio
import ftplib
import io
import posixpath
import socket
import ssl

from ..model import Challenge, Order
from .base import ResponderError
from .common import file_page, parse_hostport
from .files import FileResponder

__all__ = ["FtpResponder", "FtpSession"]

_TIMEOUT = 15.0


class FtpSession:
    """A logged-in ftplib connection for an order; TLS data channel when `ftp_tls`."""

    def __init__(self, order: Order, ssl_context: ssl.SSLContext | None = None) -> None:
        if not order.ftp_server:
            raise ResponderError(
                f"{order.common_name}: no FTP server set (--ftp-server HOST[:PORT])"
            )
        self.host, self.port = parse_hostport(order.ftp_server, 21, default_host="127.0.0.1")
        self.order = order
        self.ssl_context = ssl_context
        self.where = (
            f"ftp{'s' if order.ftp_tls else ''}://{order.ftp_user or 'anonymous'}@"
            f"{self.host}:{self.port}"
        )

    def __enter__(self) -> ftplib.FTP:
        order = self.order
        if order.ftp_tls:
            ftp: ftplib.FTP = ftplib.FTP_TLS(
                context=self.ssl_context or _tls_context(), timeout=_TIMEOUT
            )
        else:
            ftp = ftplib.FTP(timeout=_TIMEOUT)
        try:
            ftp.connect(self.host, self.port)
        except (OSError, EOFError) as exc:
            raise ResponderError(f"{self.where}: cannot connect: {_why(exc)}") from None
        try:
            if isinstance(ftp, ftplib.FTP_TLS):
                ftp.auth()
            ftp.login(order.ftp_user or "anonymous", order.ftp_password)
            if isinstance(ftp, ftplib.FTP_TLS):
                ftp.prot_p()
        except ftplib.error_perm as exc:
            ftp.close()
            raise ResponderError(f"{self.where}: login refused: {exc}") from None
        except (ftplib.Error, ssl.SSLError, OSError, EOFError) as exc:
            ftp.close()
            raise ResponderError(f"{self.where}: login failed: {_why(exc)}") from None
        ftp.set_pasv(True)
        self.ftp = ftp
        return ftp

    def __exit__(self, *exc: object) -> None:
        try:
            self.ftp.quit()
        except (ftplib.Error, OSError, EOFError):
            self.ftp.close()


def _tls_context() -> ssl.SSLContext:
    # Hosting FTP servers mostly present self-made certificates; the token is public
    # anyway and what matters is that the password travels encrypted.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _why(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "time-out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


class FtpResponder(FileResponder):
    method = "http-01 via FTP upload"

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.ssl_context = ssl_context

    def _remote(self, order: Order, page: str) -> str:
        base = order.ftp_dir or "/"
        return posixpath.join(base, ".well-known", page)

    def describe_page(self, challenge: Challenge, page: str, order: Order) -> tuple[str, str]:
        return file_page(page.rsplit("/", 1)[-1]), self._remote(order, page)

    async def put(self, challenge: Challenge, page: str, body: str, order: Order) -> str:
        remote = self._remote(order, page)

        def upload() -> str:
            session = FtpSession(order, self.ssl_context)
            with session as ftp:
                directory = posixpath.dirname(remote)
                _makedirs(ftp, directory)
                try:
                    ftp.storbinary(f"STOR {remote}", io.BytesIO(body.encode("utf-8")))
                except ftplib.Error as exc:
                    raise ResponderError(
                        f"{session.where}: upload of {remote} refused: {exc}"
                    ) from None
                except (OSError, EOFError) as exc:
                    raise ResponderError(
                        f"{session.where}: upload of {remote} failed: {_why(exc)}"
                    ) from None
                return f"by FTP to {session.where}{remote}"

        return await asyncio.to_thread(upload)

    async def remove(self, challenge: Challenge, page: str, order: Order) -> None:
        remote = self._remote(order, page)

        def delete() -> None:
            session = FtpSession(order, self.ssl_context)
            with session as ftp:
                try:
                    ftp.delete(remote)
                except ftplib.error_perm as exc:
                    if not str(exc).startswith("550"):  # 550: already gone
                        raise ResponderError(
                            f"{session.where}: delete of {remote} refused: {exc}"
                        ) from None
                except (ftplib.Error, OSError, EOFError) as exc:
                    raise ResponderError(
                        f"{session.where}: delete of {remote} failed: {_why(exc)}"
                    ) from None

        await asyncio.to_thread(delete)


def _makedirs(ftp: ftplib.FTP, directory: str) -> None:
    """MKD each missing level; an existing one answers 550, which is fine."""
    path = "/" if directory.startswith("/") else ""
    for part in [p for p in directory.split("/") if p]:
        path = posixpath.join(path, part) if path else part
        try:
            ftp.mkd(path)
        except ftplib.error_perm:
            pass
