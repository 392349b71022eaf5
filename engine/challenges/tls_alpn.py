"""tls-alpn-01 (RFC 8737): the challenge certificate, a built-in TLS server that presents
it for `acme-tls/1`, and the self-test that checks what a name serves."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import ipaddress
import os
import ssl
import tempfile
from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .base import ResponderError

__all__ = [
    "ACME_TLS_ALPN",
    "ACME_IDENTIFIER_OID",
    "make_alpn_certificate",
    "acme_identifier_value",
    "sni_name",
    "AlpnServer",
    "fetch_alpn_certificate",
    "check_alpn_certificate",
]

ACME_TLS_ALPN = "acme-tls/1"
ACME_IDENTIFIER_OID = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.31")
REFUSAL = (
    b"certdesk tls-alpn-01 responder: this port answers only the ACME validation "
    b"protocol (ALPN acme-tls/1); it is not a web server.\r\n"
)


def acme_identifier_value(key_authorization: str) -> bytes:
    """The extension's DER: Authorization ::= OCTET STRING (SIZE (32)) of SHA-256(keyauth)."""
    digest = hashlib.sha256(key_authorization.encode("utf-8")).digest()
    return b"\x04\x20" + digest


def sni_name(identifier: str) -> str:
    """The SNI the CA sends: the name itself, or for an IP the reverse name (RFC 8738 s. 6)."""
    try:
        return ipaddress.ip_address(identifier).reverse_pointer
    except ValueError:
        return identifier.lower().rstrip(".")


def make_alpn_certificate(identifier: str, key_authorization: str) -> tuple[bytes, bytes]:
    """A self-signed EC P-256 certificate for one identifier with the critical
    acmeIdentifier extension; returns (certificate PEM, private key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    try:
        alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(identifier))
    except ValueError:
        alt = x509.DNSName(identifier.lower().rstrip("."))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "certdesk tls-alpn-01")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
        .add_extension(
            x509.UnrecognizedExtension(
                ACME_IDENTIFIER_OID, acme_identifier_value(key_authorization)
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _load(ctx: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    # ssl loads chains from files only: a private temp file, removed at once.
    fd, path = tempfile.mkstemp(prefix="certdesk-alpn-", suffix=".pem")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(cert_pem + key_pem)
        ctx.load_cert_chain(path)
    finally:
        os.unlink(path)


def context_for(cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    """A server context presenting this challenge certificate, for ALPN acme-tls/1."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols([ACME_TLS_ALPN])
    _load(ctx, cert_pem, key_pem)
    return ctx


class AlpnServer:
    """Presents, per SNI name, the challenge certificate registered for it. A handshake
    without a known SNI name is aborted (unrecognized_name); a client that completes one
    without ALPN `acme-tls/1` gets a one-line refusal and the connection is closed."""

    def __init__(
        self,
        host: str = "0.0.0.0",
        port: int = 443,
        fallback: Callable[[str], ssl.SSLContext | None] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.fallback = fallback  # asked for names not registered (certificate files)
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._server: asyncio.Server | None = None
        self._default = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._default.set_alpn_protocols([ACME_TLS_ALPN])
        self._default.sni_callback = self._pick

    def add(self, identifier: str, key_authorization: str) -> bytes:
        """Serve a fresh challenge certificate for `identifier`; returns its PEM."""
        cert_pem, key_pem = make_alpn_certificate(identifier, key_authorization)
        self._contexts[sni_name(identifier)] = context_for(cert_pem, key_pem)
        return cert_pem

    def remove(self, identifier: str) -> None:
        self._contexts.pop(sni_name(identifier), None)

    def __len__(self) -> int:
        return len(self._contexts)

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def address(self) -> tuple[str, int]:
        if self._server is None:
            return self.host, self.port
        return self._server.sockets[0].getsockname()[:2]

    def _pick(self, sslobj: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> int | None:
        wanted = (name or "").lower().rstrip(".")
        ctx = self._contexts.get(wanted)
        if ctx is None and wanted and self.fallback is not None:
            ctx = self.fallback(wanted)
        if ctx is None:
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        sslobj.context = ctx
        return None

    async def start(self) -> None:
        if self._server is not None:
            return
        # The listening context needs a certificate before SNI switches it per name.
        _load(self._default, *make_alpn_certificate("invalid", ""))
        try:
            self._server = await asyncio.start_server(
                self._handle, self.host, self.port, ssl=self._default, ssl_handshake_timeout=10
            )
        except OSError as exc:
            raise ResponderError(
                f"cannot listen for tls-alpn-01 on {self.host}:{self.port}: {exc.strerror or exc}"
            ) from None

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sslobj = writer.get_extra_info("ssl_object")
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            if sslobj is None or sslobj.selected_alpn_protocol() != ACME_TLS_ALPN:
                writer.write(REFUSAL)
                await writer.drain()
            # RFC 8737 s. 3: after the handshake the client closes; nothing else to say.
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def fetch_alpn_certificate(
    address: str, port: int, identifier: str, timeout: float = 10.0
) -> tuple[x509.Certificate, str | None]:
    """Connect as the CA does (SNI, ALPN acme-tls/1, no trust check); return the
    certificate served and the ALPN protocol selected."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols([ACME_TLS_ALPN])
    _reader, writer = await asyncio.wait_for(
        asyncio.open_connection(address, port, ssl=ctx, server_hostname=sni_name(identifier)),
        timeout,
    )
    try:
        sslobj = writer.get_extra_info("ssl_object")
        der = sslobj.getpeercert(binary_form=True)
        return x509.load_der_x509_certificate(der), sslobj.selected_alpn_protocol()
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def check_alpn_certificate(
    cert: x509.Certificate, identifier: str, key_authorization: str
) -> str | None:
    """None when `cert` is a valid RFC 8737 challenge certificate, else what is wrong."""
    try:
        ext = cert.extensions.get_extension_for_oid(ACME_IDENTIFIER_OID)
    except x509.ExtensionNotFound:
        return "the certificate has no acmeIdentifier extension"
    if not ext.critical:
        return "the acmeIdentifier extension is not critical"
    if ext.value.value != acme_identifier_value(key_authorization):
        return "the acmeIdentifier digest does not match the key authorization"
    try:
        alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return "the certificate has no subjectAltName"
    try:
        wanted: object = ipaddress.ip_address(identifier)
        names = alt.get_values_for_type(x509.IPAddress)
    except ValueError:
        wanted = identifier.lower()
        names = [n.lower() for n in alt.get_values_for_type(x509.DNSName)]
    if list(names) != [wanted]:
        return f"the subjectAltName is {names}, not exactly {identifier}"
    return None
