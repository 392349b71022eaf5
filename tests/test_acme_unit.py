"""Unit tests of the ACME client: JWS offline, and behaviour Pebble 2.4 cannot produce
(Retry-After, 429 rateLimited, a `processing` order, validation records, subproblems),
driven through httpx.MockTransport. Everything else is tested against a real Pebble."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from engine.model import Account, Challenge, ChallengeType, Order, SupplierProto
from engine.suppliers.acme import (
    AccountKey,
    AcmeError,
    AcmeRateLimited,
    AcmeSupplier,
    identifiers_for,
    poll_until,
    polling,
)
from engine.suppliers.acme.client import AcmeResponse
from engine.suppliers.acme.jws import b64url, b64url_decode, eab_jws, jwk_thumbprint, sign_jws
from engine.suppliers.acme.problems import parse_retry_after
from engine.suppliers.base import RateLimited, SupplierError

BASE = "https://ca.test"
LEAF = b"-----BEGIN CERTIFICATE-----\nTEFBRg==\n-----END CERTIFICATE-----\n"
INTER = b"-----BEGIN CERTIFICATE-----\nSU5URVI=\n-----END CERTIFICATE-----\n"


def problem(status: int, kind: str, detail: str, **extra) -> httpx.Response:
    body = {"type": f"urn:ietf:params:acme:error:{kind}", "detail": detail, "status": status}
    body.update(extra.pop("body", {}))
    return httpx.Response(
        status, json=body, headers={"Content-Type": "application/problem+json", **extra}
    )


class FakeCA:
    """A scripted ACME server: routes map a path to a function of (protected, payload)."""

    def __init__(self) -> None:
        self._nonces = (f"nonce-{i}" for i in itertools.count())
        self.seen: list[tuple[str, dict, object]] = []  # path, protected header, payload
        self.routes: dict[str, Callable[[dict, object], httpx.Response]] = {
            "/new-acct": lambda p, b: httpx.Response(
                201,
                json={"status": "valid"},
                headers={"Location": f"{BASE}/acct/7", "Boulder-Requester": "4242"},
            ),
        }

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/dir":
            return httpx.Response(
                200,
                json={
                    "newNonce": f"{BASE}/nonce",
                    "newAccount": f"{BASE}/new-acct",
                    "newOrder": f"{BASE}/new-order",
                    "revokeCert": f"{BASE}/revoke",
                    "keyChange": f"{BASE}/key-change",
                },
            )
        if path == "/nonce":
            return httpx.Response(200, headers={"Replay-Nonce": next(self._nonces)})
        jws = json.loads(request.content)
        protected = json.loads(b64url_decode(jws["protected"]))
        payload = json.loads(b64url_decode(jws["payload"])) if jws["payload"] else None
        self.seen.append((path, protected, payload))
        response = self.routes[path](protected, payload)
        if "replay-nonce" not in response.headers:
            response.headers["Replay-Nonce"] = next(self._nonces)
        return response

    def paths(self) -> list[str]:
        return [p for p, _, _ in self.seen]


@pytest.fixture
def ca() -> FakeCA:
    return FakeCA()


@pytest.fixture
async def supplier(ca, tmp_path):
    supplier = AcmeSupplier(tmp_path / "acct", transport=httpx.MockTransport(ca.handler))
    account = Account(supplier=SupplierProto.SuppProtoAcmeV2, server=f"{BASE}/dir")
    await supplier.open(account)
    yield supplier
    await supplier.aclose()


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """Record the poller's waits instead of waiting."""
    waited: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waited.append(seconds)

    monkeypatch.setattr(polling, "_sleep", fake_sleep)
    return waited


def order_for(name: str = "a.test") -> Order:
    return Order(
        common_name=name,
        san_names=[name],
        challenge_type=ChallengeType.ChallFileSrv,
        acme_order_url=f"{BASE}/order/1",
        acme_finalize_url=f"{BASE}/finalize/1",
    )


# -- account and nonces ----------------------------------------------------------------


async def test_account_number_from_boulder_requester(supplier, ca):
    assert supplier.account.acme_account_url == f"{BASE}/acct/7"
    assert supplier.account.acme_account_num == "4242"
    (_path, protected, payload) = ca.seen[0]
    assert "jwk" in protected and "kid" not in protected
    assert payload == {"termsOfServiceAgreed": True}


async def test_requests_after_registration_use_kid(supplier, ca):
    ca.routes["/revoke"] = lambda p, b: httpx.Response(200)
    await supplier.revoke(order_for(), _self_signed_pem(), 4)
    _path, protected, payload = ca.seen[-1]
    assert protected["kid"] == f"{BASE}/acct/7" and "jwk" not in protected
    assert payload["reason"] == 4


async def test_bad_nonce_is_retried_with_the_nonce_of_the_error(supplier, ca):
    answers = iter(
        [
            problem(400, "badNonce", "stale", **{"Replay-Nonce": "from-the-error"}),
            httpx.Response(200, json={"status": "valid"}),
        ]
    )
    ca.routes["/order/1"] = lambda p, b: next(answers)
    polled = await supplier.poll_order(order_for())
    assert polled.status == "valid"
    assert ca.seen[-1][1]["nonce"] == "from-the-error"
    assert ca.seen[-2][1]["nonce"] != "from-the-error"


async def test_bad_nonce_retries_are_bounded(supplier, ca):
    ca.routes["/order/1"] = lambda p, b: problem(400, "badNonce", "never good")
    with pytest.raises(AcmeError, match="badNonce: never good"):
        await supplier.poll_order(order_for())
    assert 5 <= ca.paths().count("/order/1") <= 20


# -- problems --------------------------------------------------------------------------


async def test_rate_limited_with_retry_after(supplier, ca):
    ca.routes["/new-order"] = lambda p, b: problem(
        429, "rateLimited", "too many certificates", **{"Retry-After": "120"}
    )
    with pytest.raises(RateLimited) as caught:
        await supplier.new_order(order_for())
    assert isinstance(caught.value, AcmeRateLimited)
    assert caught.value.retry_after == 120 and caught.value.retryable
    assert "rateLimited: too many certificates" in str(caught.value)
    assert "retry after 120 s" in str(caught.value)


async def test_subproblems_are_shown_per_identifier(supplier, ca):
    sub = [
        {
            "type": "urn:ietf:params:acme:error:rejectedIdentifier",
            "detail": "policy forbids issuing for this name",
            "identifier": {"type": "dns", "value": "bad.test"},
        }
    ]
    ca.routes["/new-order"] = lambda p, b: problem(
        400, "rejectedIdentifier", "some names were refused", body={"subproblems": sub}
    )
    with pytest.raises(SupplierError) as caught:
        await supplier.new_order(order_for())
    text = str(caught.value)
    assert text.startswith("rejectedIdentifier: some names were refused")
    assert "bad.test: rejectedIdentifier: policy forbids issuing for this name" in text
    assert not caught.value.retryable


async def test_a_non_json_5xx_is_retryable_and_readable(supplier, ca):
    ca.routes["/order/1"] = lambda p, b: httpx.Response(502, text="<html>Bad Gateway</html>")
    with pytest.raises(AcmeError) as caught:
        await supplier.poll_order(order_for())
    assert caught.value.retryable
    assert "HTTP 502" in str(caught.value) and f"{BASE}/order/1" in str(caught.value)


async def test_a_directory_that_is_not_acme(tmp_path):
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json={"hello": "world"}))
    supplier = AcmeSupplier(tmp_path / "acct", transport=transport)
    account = Account(supplier=SupplierProto.SuppProtoAcmeV2, server=f"{BASE}/dir")
    with pytest.raises(SupplierError, match="is not an ACME directory"):
        await supplier.open(account)
    await supplier.aclose()


def test_retry_after_as_an_http_date():
    later = datetime.now(UTC) + timedelta(seconds=90)
    assert 80 <= parse_retry_after(format_datetime(later, usegmt=True)) <= 91
    assert parse_retry_after("7") == 7
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


# -- polling ---------------------------------------------------------------------------


async def test_processing_order_is_polled_honouring_retry_after(supplier, ca, sleeps):
    looks = iter(
        [
            httpx.Response(200, json={"status": "ready", "finalize": f"{BASE}/finalize/1"}),
            httpx.Response(200, json={"status": "processing"}, headers={"Retry-After": "1"}),
            httpx.Response(200, json={"status": "valid", "certificate": f"{BASE}/cert/1"}),
        ]
    )
    ca.routes["/order/1"] = lambda p, b: next(looks)
    ca.routes["/finalize/1"] = lambda p, b: httpx.Response(
        200, json={"status": "processing"}, headers={"Retry-After": "3"}
    )
    ca.routes["/cert/1"] = lambda p, b: httpx.Response(
        200, content=LEAF + INTER, headers={"Content-Type": "application/pem-certificate-chain"}
    )
    chain = await supplier.finalize(order_for(), b"csr-der")
    assert sleeps == [3, 1]
    assert chain.certificate_pem == LEAF and chain.chain_pems == [INTER]
    finalize = next(b for p, _, b in ca.seen if p == "/finalize/1")
    assert finalize == {"csr": b64url(b"csr-der")}


async def test_processing_without_retry_after_backs_off_from_a_short_interval(supplier, ca, sleeps):
    looks = iter(
        [httpx.Response(200, json={"status": "processing"})] * 9
        + [httpx.Response(200, json={"status": "valid", "certificate": f"{BASE}/cert/1"})]
    )
    ca.routes["/order/1"] = lambda p, b: next(looks)
    ca.routes["/cert/1"] = lambda p, b: httpx.Response(200, content=LEAF)
    await supplier.finalize(order_for(), b"csr")
    assert sleeps[:4] == [0.025, 0.05, 0.1, 0.2]
    assert max(sleeps) <= polling.MAX_INTERVAL and sleeps[-1] == 2.0
    assert "/finalize/1" not in ca.paths(), "a processing order is not finalized again"


async def test_poll_until_gives_up_at_the_deadline(sleeps):
    async def fetch():
        return "pending", None

    with pytest.raises(AcmeError, match="timed out") as caught:
        await poll_until(fetch, lambda v: v == "valid", timeout=0, what="nothing")
    assert caught.value.retryable


async def test_resumed_valid_order_is_only_downloaded(supplier, ca):
    ca.routes["/order/1"] = lambda p, b: httpx.Response(
        200, json={"status": "valid", "certificate": f"{BASE}/cert/1"}
    )
    ca.routes["/cert/1"] = lambda p, b: httpx.Response(
        200,
        content=LEAF + INTER,
        headers={"Link": f'<{BASE}/cert/1/alt>;rel="alternate", </dir>;rel="index"'},
    )
    ca.routes["/cert/1/alt"] = lambda p, b: httpx.Response(200, content=LEAF + LEAF)
    chain = await supplier.finalize(order_for(), b"csr")
    assert ca.paths()[-3:] == ["/order/1", "/cert/1", "/cert/1/alt"]
    assert chain.alternates == [[LEAF]]


async def test_challenge_validation_records(supplier, ca):
    challenge = Challenge(domain="a.test", url=f"{BASE}/chall/1", token="tok")
    records = iter(
        [
            {"status": "valid", "type": "http-01",
             "validationRecord": [{"url": "http://a.test/.well-known/acme-challenge/tok",
                                   "hostname": "a.test"}]},
            {"status": "valid", "type": "dns-01", "validationRecord": [{"hostname": "a.test"}]},
            {"status": "invalid", "type": "http-01",
             "error": {"type": "urn:ietf:params:acme:error:connection", "detail": "refused"}},
        ]
    )  # fmt: skip
    ca.routes["/chall/1"] = lambda p, b: httpx.Response(
        200, json=next(records), headers={"Retry-After": "5"}
    )
    first = await supplier.poll_challenge(challenge)
    assert first.detail == "OK, URL: http://a.test/.well-known/acme-challenge/tok"
    assert first.retry_after == 5
    assert (await supplier.poll_challenge(challenge)).detail == "OK, Hostname: a.test"
    failed = await supplier.poll_challenge(challenge)
    assert failed.status == "invalid" and failed.detail == "Failed: refused"


def test_link_headers():
    headers = httpx.Headers(
        [
            ("Link", '<https://ca.test/dir>;rel="index", </cert/2>; rel="alternate"'),
            ("Link", "<https://ca.test/cert/3>;rel=alternate"),
        ]
    )
    response = AcmeResponse(200, headers, b"", "https://ca.test/cert/1")
    assert response.links("alternate") == ["https://ca.test/cert/2", "https://ca.test/cert/3"]
    assert response.links("index") == ["https://ca.test/dir"]


# -- identifiers -----------------------------------------------------------------------


def test_identifiers():
    got = identifiers_for(
        ["Bücher.example", "*.Example.com", "2001:DB8:0:0::1", "10.0.0.1", "*.example.com", ""]
    )
    assert got == [
        {"type": "dns", "value": "xn--bcher-kva.example"},
        {"type": "dns", "value": "*.example.com"},
        {"type": "ip", "value": "2001:db8::1"},
        {"type": "ip", "value": "10.0.0.1"},
    ]


# -- JWS, offline ----------------------------------------------------------------------


def _split(jws: dict) -> tuple[dict, bytes, bytes]:
    protected = json.loads(b64url_decode(jws["protected"]))
    signing_input = f"{jws['protected']}.{jws['payload']}".encode()
    return protected, signing_input, b64url_decode(jws["signature"])


@pytest.mark.parametrize(
    ("curve", "alg", "size", "digest"),
    [
        (ec.SECP256R1(), "ES256", 32, hashes.SHA256()),
        (ec.SECP384R1(), "ES384", 48, hashes.SHA384()),
        (ec.SECP521R1(), "ES512", 66, hashes.SHA512()),
    ],
)
def test_ecdsa_signatures_are_raw_r_s(curve, alg, size, digest):
    key = AccountKey(ec.generate_private_key(curve))
    jws = sign_jws(key, {"a": 1}, url="https://ca.test/x", nonce="n1")
    protected, signing_input, signature = _split(jws)
    assert protected == {"alg": alg, "jwk": key.jwk(), "nonce": "n1", "url": "https://ca.test/x"}
    assert len(signature) == 2 * size
    r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
    key.key.public_key().verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(digest))


def test_rs256_signature_and_kid():
    key = AccountKey(rsa.generate_private_key(65537, 2048))
    jws = sign_jws(key, None, url="https://ca.test/x", nonce="n", kid="https://ca.test/acct/1")
    protected, signing_input, signature = _split(jws)
    assert protected["alg"] == "RS256" and protected["kid"] == "https://ca.test/acct/1"
    assert "jwk" not in protected and jws["payload"] == ""  # POST-as-GET
    key.key.public_key().verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())


def test_eddsa_signature():
    key = AccountKey(ed25519.Ed25519PrivateKey.generate())
    jws = sign_jws(key, {}, url="https://ca.test/x", nonce="n")
    protected, signing_input, signature = _split(jws)
    assert protected["alg"] == "EdDSA"
    assert protected["jwk"]["kty"] == "OKP" and protected["jwk"]["crv"] == "Ed25519"
    key.key.public_key().verify(signature, signing_input)


def test_rfc7638_thumbprint_example():
    jwk = {
        "kty": "RSA",
        "e": "AQAB",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_B"
        "JECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FD"
        "W2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vM"
        "QFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_ec_jwk_coordinates_are_padded():
    key = AccountKey(ec.generate_private_key(ec.SECP521R1()))
    jwk = key.jwk()
    assert len(b64url_decode(jwk["x"])) == 66 and len(b64url_decode(jwk["y"])) == 66


def test_eab_binding_is_hs256_over_the_account_jwk():
    mac_key = b"k" * 32
    account = AccountKey(ec.generate_private_key(ec.SECP256R1()))
    binding = eab_jws("kid-9", b64url(mac_key), account.jwk(), "https://ca.test/new-acct")
    protected = json.loads(b64url_decode(binding["protected"]))
    assert protected == {"alg": "HS256", "kid": "kid-9", "url": "https://ca.test/new-acct"}
    assert json.loads(b64url_decode(binding["payload"])) == account.jwk()
    expected = hmac.new(
        mac_key, f"{binding['protected']}.{binding['payload']}".encode(), hashlib.sha256
    ).digest()
    assert b64url_decode(binding["signature"]) == expected
    assert base64.urlsafe_b64encode(mac_key).decode().rstrip("=") not in json.dumps(binding)


def _self_signed_pem() -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "a.test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)
