"""A real pyftpdlib FTP server (plain, or explicit TLS with a certificate made here) on a
free loopback port, and a small HTTP server that serves the same root directory, as a
hosting provider's FTP account and web site would (Pebble can fetch through it).

    ftp_server  -> FtpServer(host, port, user, password, root, tls=False, http_port)
    ftps_server -> the same with TLS (AUTH TLS, PROT P)

Each test gets its own server pair in its own directory; the FTP server runs in a thread
with its own IOLoop (pyftpdlib's handlers are configured by subclassing per server, so
two servers in one process never share settings).
"""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import ipaddress
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.ioloop import IOLoop
from pyftpdlib.servers import FTPServer

__all__ = ["FtpServer", "start_ftp", "make_tls_cert", "HttpRoot", "serve_http_root"]


def make_tls_cert(directory: Path, name: str = "localhost") -> Path:
    """A self-signed certificate + key PEM for 127.0.0.1 / localhost."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(name), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    path = directory / "ftp-tls.pem"
    path.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return path


class HttpRoot:
    """A threaded stdlib HTTP server serving `root` read-only."""

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer((host, port), handler)
        self.host, self.port = self.httpd.server_address[:2]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def serve_http_root(root: Path) -> HttpRoot:
    return HttpRoot(root)


@dataclass
class FtpServer:
    host: str
    port: int
    user: str
    password: str
    root: Path  # the FTP user's home; also the web root served by `http_port`
    tls: bool
    http_port: int
    cert_file: Path | None = None
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _http: HttpRoot | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._http is not None:
            self._http.stop()


def start_ftp(root: Path, *, tls: bool = False, workdir: Path | None = None) -> FtpServer:
    root.mkdir(parents=True, exist_ok=True)
    user, password = "webmaster", secrets.token_urlsafe(12)
    authorizer = DummyAuthorizer()
    authorizer.add_user(user, password, str(root), perm="elradfmw")
    attrs: dict = {"authorizer": authorizer, "banner": "certdesk test ftpd", "passive_ports": None}
    cert_file = None
    if tls:
        from pyftpdlib.handlers import TLS_FTPHandler

        cert_file = make_tls_cert(workdir or root.parent)
        attrs |= {
            "certfile": str(cert_file),
            "tls_control_required": True,
            "tls_data_required": True,
            "ssl_context": None,
        }
        handler = type("TestTlsHandler", (TLS_FTPHandler,), attrs)
    else:
        handler = type("TestHandler", (FTPHandler,), attrs)
    ioloop = IOLoop()
    server = FTPServer(("127.0.0.1", 0), handler, ioloop=ioloop)
    host, port = server.address[:2]
    web = HttpRoot(root)
    ftp = FtpServer(host, port, user, password, root, tls, web.port, cert_file, _http=web)

    def loop() -> None:
        try:
            while not ftp._stop.is_set():
                ioloop.loop(0.1, blocking=False)
        finally:
            server.close_all()

    ftp._thread = threading.Thread(target=loop, name=f"ftpd-{port}", daemon=True)
    ftp._thread.start()
    return ftp


@pytest.fixture
def ftp_server(tmp_path: Path) -> Iterator[FtpServer]:
    server = start_ftp(tmp_path / "ftp-root")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def ftps_server(tmp_path: Path) -> Iterator[FtpServer]:
    server = start_ftp(tmp_path / "ftps-root", tls=True, workdir=tmp_path)
    try:
        yield server
    finally:
        server.stop()
