"""tls-alpn-01 (RFC 8737): the certificate, the built-in TLS server, the certificate file
for another server, and the self-test."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import ssl
from pathlib import Path

import pytest
from cryptography import x509

from engine.challenges import ResponderError, ResponderHost, responder_for
from engine.challenges.tls_alpn import (
    ACME_IDENTIFIER_OID,
    ACME_TLS_ALPN,
    fetch_alpn_certificate,
    make_alpn_certificate,
)
from engine.model import Account, Challenge, ChallengeType, Order

KEYAUTH = "tok-alpn.thumbprint-of-the-account-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def assert_rfc8737(cert: x509.Certificate, name: str, keyauth: str = KEYAUTH) -> None:
    ext = cert.extensions.get_extension_for_oid(ACME_IDENTIFIER_OID)
    assert ext.oid.dotted_string == "1.3.6.1.5.5.7.1.31"
    assert ext.critical
    # DER OCTET STRING (tag 4, length 32) holding SHA-256 of the key authorization.
    assert ext.value.value == b"\x04\x20" + hashlib.sha256(keyauth.encode()).digest()
    alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert alt.get_values_for_type(x509.DNSName) == [name]


def test_certificate_carries_the_acme_identifier():
    cert_pem, key_pem = make_alpn_certificate("www.example.test", KEYAUTH)
    assert_rfc8737(x509.load_pem_x509_certificate(cert_pem), "www.example.test")
    assert b"PRIVATE KEY" in key_pem


@pytest.fixture
async def served():
    port = free_port()
    order = Order(
        common_name="localhost",
        challenge_type=ChallengeType.ChallAlpnSrv,
        alpn_listen=f"127.0.0.1:{port}",
    )
    account = Account(validation_tls_port=port)
    async with ResponderHost() as host:
        responder = responder_for(order, account, host)
        ch = Challenge(domain="localhost", token="tok-alpn", key_authorization=KEYAUTH)
        await responder.prepare(ch, order, account)
        yield port, responder, ch, order, account


async def test_builtin_server_presents_the_challenge_certificate(served):
    port, responder, ch, order, account = served
    assert responder.needs_process
    cert, alpn = await fetch_alpn_certificate("127.0.0.1", port, "localhost")
    assert alpn == ACME_TLS_ALPN
    assert_rfc8737(cert, "localhost")
    result = await responder.self_test(ch, order, account)
    assert result.ok, result.detail
    await responder.cleanup(ch, order, account)
    gone = await responder.self_test(ch, order, account)
    assert not gone.ok


async def test_ordinary_tls_is_refused(served):
    port, *_ = served
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    # With the name but without ALPN acme-tls/1: one line of refusal, then the close.
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=ctx, server_hostname="localhost"
    )
    text = await reader.read()
    writer.close()
    assert b"answers only the ACME validation protocol" in text
    # A name it has no challenge for: the handshake itself is aborted (an
    # unrecognized_name alert, which may arrive as a reset when the server closes first).
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="other.test")


async def test_self_test_catches_a_wrong_certificate(served):
    _port, responder, ch, order, account = served
    ch.key_authorization = "another.keyauth"
    result = await responder.self_test(ch, order, account)
    assert not result.ok and "digest does not match" in result.detail


async def test_certificate_file_for_another_server(tmp_path: Path):
    order = Order(
        common_name="www.example.test",
        challenge_type=ChallengeType.ChallAlpnUNC,
        alpn_dir=str(tmp_path),
    )
    async with ResponderHost() as host:
        responder = responder_for(order, Account(), host)
        ch = Challenge(domain="www.example.test", token="t", key_authorization=KEYAUTH)
        await responder.prepare(ch, order, Account())
        path = tmp_path / "acmealpn-www_example_test.pem"
        assert ch.alpn_cert == str(path)
        assert (path.stat().st_mode & 0o777) == 0o600
        data = path.read_bytes()
        assert b"PRIVATE KEY" in data
        assert_rfc8737(x509.load_pem_x509_certificate(data), "www.example.test")
        await responder.cleanup(ch, order, Account())
        assert not path.exists()


async def test_alpn_refuses_wildcards_and_unreachable_is_clear():
    port = free_port()
    order = Order(
        common_name="*.a.test",
        challenge_type=ChallengeType.ChallAlpnSrv,
        alpn_listen=f"127.0.0.1:{port}",
    )
    account = Account(validation_tls_port=free_port())
    async with ResponderHost() as host:
        responder = responder_for(order, account, host)
        wild = Challenge(domain="a.test", wildcard=True, key_authorization=KEYAUTH)
        with pytest.raises(ResponderError, match="wildcard"):
            await responder.prepare(wild, order, account)
        plain = Challenge(domain="localhost", key_authorization=KEYAUTH)
        result = await responder.self_test(plain, order, account)
        assert not result.ok and f"localhost:{account.validation_tls_port}" in result.detail
