"""AcmeSupplier end to end against a real Pebble (the session's default instance).

Challenges are answered through pebble-challtestsrv, so these tests need no responder.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import json
import os
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from engine.model import Account, Challenge, ChallengeType, Order, PrivKeyType, SupplierProto
from engine.suppliers.acme import AcmeSupplier
from engine.suppliers.base import IssuedChain, Supplier, SupplierError, SupplierOrder

pytestmark = pytest.mark.pebble

_serial = itertools.count(1)


def unique(label: str) -> str:
    """A name no other test (or xdist worker) orders."""
    return f"{label}-{os.getpid()}-{next(_serial)}.example.com"


def make_account(pebble, **fields) -> Account:
    fields.setdefault("email", "admin@example.com")
    fields.setdefault("ca_bundle", str(pebble.ca_bundle))
    return Account(supplier=SupplierProto.SuppProtoAcmeV2, server=pebble.directory_url, **fields)


def make_order(names: list[str], challenge=ChallengeType.ChallFileSrv) -> Order:
    return Order(common_name=names[0], san_names=list(names), challenge_type=challenge)


def challenge_for(authz) -> Challenge:
    return Challenge(
        domain=authz.domain,
        wildcard=authz.wildcard,
        authz_url=authz.authz_url,
        url=authz.challenge_url,
        token=authz.token,
        key_authorization=authz.key_authorization,
    )


def make_csr(names: list[str], key=None) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
    key = key or ec.generate_private_key(ec.SECP256R1())
    alt = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.DER), key


async def validate(supplier: AcmeSupplier, pebble, placed: SupplierOrder) -> list[str]:
    """Answer every pending authorization in challtestsrv, start it, wait for the verdict."""
    results = []
    for authz in placed.authorizations:
        if authz.status == "valid":
            results.append(authz.detail)
            continue
        pebble.answer(authz.challenge_type, authz.domain, authz.token, authz.key_authorization)
        challenge = challenge_for(authz)
        await supplier.start_challenge(challenge)
        status = await supplier.wait_challenge(challenge, timeout=60)
        assert status.status == "valid", status.detail
        results.append(status.detail)
    return results


async def issue(
    supplier: AcmeSupplier, pebble, names: list[str], challenge=ChallengeType.ChallFileSrv
) -> tuple[Order, IssuedChain, ec.EllipticCurvePrivateKey, list[str]]:
    order = make_order(names, challenge)
    placed = await supplier.new_order(order)
    order.acme_order_url = placed.order_url
    order.acme_finalize_url = placed.finalize_url
    results = await validate(supplier, pebble, placed)
    ready = await supplier.wait_order(order, timeout=60)
    assert ready.status == "ready", ready.error
    csr, key = make_csr(names)
    return order, await supplier.finalize(order, csr), key, results


def leaf(chain: IssuedChain) -> x509.Certificate:
    return x509.load_pem_x509_certificate(chain.certificate_pem)


def leaf_names(chain: IssuedChain) -> set[str]:
    san = leaf(chain).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(v) for v in san.get_values_for_type(x509.DNSName)} | {
        str(v) for v in san.get_values_for_type(x509.IPAddress)
    }


@pytest.fixture
async def opened(pebble, tmp_path):
    supplier = AcmeSupplier(tmp_path / "acct", json_log_path=tmp_path / "acme.jsonl")
    account = make_account(pebble)
    await supplier.open(account)
    yield supplier
    await supplier.aclose()


async def test_single_name_issued_with_new_ec_account(pebble, tmp_path):
    account_dir = tmp_path / "acct"
    supplier = AcmeSupplier(account_dir)
    assert isinstance(supplier, Supplier)
    account = make_account(pebble)
    await supplier.open(account)
    try:
        key_file = account_dir / "AcmePrivateKey.pem"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert b"BEGIN PUBLIC KEY" in (account_dir / "AcmePublicKey.pem").read_bytes()
        assert supplier.key.alg == "ES256"
        assert account.acme_account_url.startswith(pebble.directory_url.rsplit("/", 1)[0])
        assert account.acme_account_num == account.acme_account_url.rsplit("/", 1)[-1]

        name = unique("single")
        _order, chain, key, results = await issue(supplier, pebble, [name])
        assert leaf_names(chain) == {name}
        assert chain.chain_pems, "Pebble sends its intermediate with the leaf"
        assert leaf(chain).public_key().public_numbers() == key.public_key().public_numbers()
        prefix = f"OK, URL: http://{name}/.well-known/acme-challenge/"
        assert len(results) == 1 and results[0].startswith(prefix)
    finally:
        await supplier.aclose()


async def test_ten_sans_in_one_order(opened, pebble):
    names = [unique(f"san{i}") for i in range(10)]
    order, chain, _key, results = await issue(opened, pebble, names)
    assert leaf_names(chain) == set(names)
    assert len(results) == 10 and all(r.startswith("OK, URL: http://") for r in results)
    polled = await opened.poll_order(order, with_authorizations=True)
    assert polled.status == "valid" and polled.certificate_url
    assert {a.domain for a in polled.authorizations} == set(names)


async def test_wildcard_and_base_by_dns01(opened, pebble):
    base = unique("wild")
    _order, chain, _key, results = await issue(
        opened, pebble, [base, f"*.{base}"], ChallengeType.ChallDnsAuto
    )
    assert leaf_names(chain) == {base, f"*.{base}"}
    assert sorted(results) == sorted([f"OK, Hostname: {base}", f"OK, Hostname: *.{base}"])


async def test_ip_identifier(opened, pebble):
    _order, chain, _key, _results = await issue(opened, pebble, ["127.0.0.1"])
    assert leaf_names(chain) == {"127.0.0.1"}


async def test_new_order_reports_authorizations_and_key_authorization(opened, pebble):
    name = unique("authz")
    placed = await opened.new_order(make_order([name]))
    assert placed.status == "pending" and placed.order_id
    assert placed.order_url.endswith(placed.order_id) and placed.finalize_url
    assert placed.expires is not None
    (authz,) = placed.authorizations
    assert authz.domain == name and not authz.wildcard and authz.status == "pending"
    assert authz.challenge_type == "http-01"
    assert authz.key_authorization == f"{authz.token}.{opened.key.thumbprint()}"


@pytest.mark.parametrize(
    ("key_type", "alg"),
    [
        (PrivKeyType.PrivKeyRsa2048, "RS256"),
        (PrivKeyType.PrivKeyECsecp384, "ES384"),
        (PrivKeyType.PrivKeyECsecp512, "ES512"),
    ],
)
async def test_account_key_types(pebble, tmp_path, key_type, alg):
    supplier = AcmeSupplier(tmp_path / "acct")
    await supplier.open(make_account(pebble, acme_key_type=key_type))
    try:
        assert supplier.key.alg == alg
        name = unique(alg.lower())
        _order, chain, _key, _results = await issue(supplier, pebble, [name])
        assert leaf_names(chain) == {name}
    finally:
        await supplier.aclose()


async def test_ed25519_account_key_is_refused_by_pebble_24_with_a_clear_error(pebble, tmp_path):
    # Pebble 2.4 takes only RS256 and ES256/384/512; EdDSA signing is proven offline
    # (test_acme_unit.py). The refusal must read as a problem, not a traceback.
    supplier = AcmeSupplier(tmp_path / "acct")
    with pytest.raises(SupplierError) as caught:
        await supplier.open(make_account(pebble, acme_key_type=PrivKeyType.PrivKeyEd25519))
    await supplier.aclose()
    assert "badPublicKey" in str(caught.value) or "malformed" in str(caught.value)


async def test_reopen_reuses_the_account(pebble, tmp_path):
    account_dir = tmp_path / "acct"
    first = make_account(pebble)
    supplier = AcmeSupplier(account_dir)
    await supplier.open(first)
    await supplier.aclose()

    # Key kept, URL forgotten: onlyReturnExisting finds the same account.
    second = make_account(pebble)
    supplier = AcmeSupplier(account_dir)
    await supplier.open(second)
    await supplier.aclose()
    assert second.acme_account_url == first.acme_account_url

    # URL known: used as the kid straight away, and orders work with it.
    third = make_account(pebble, acme_account_url=first.acme_account_url)
    supplier = AcmeSupplier(account_dir)
    try:
        await supplier.open(third)
        assert third.acme_account_num == first.acme_account_num
        placed = await supplier.new_order(make_order([unique("reuse")]))
        assert placed.status == "pending"
    finally:
        await supplier.aclose()


async def test_key_rollover_then_order_with_the_new_key(pebble, tmp_path):
    account_dir = tmp_path / "acct"
    account = make_account(pebble)
    supplier = AcmeSupplier(account_dir)
    await supplier.open(account)
    try:
        old_pem = (account_dir / "AcmePrivateKey.pem").read_bytes()
        old_thumb = supplier.key.thumbprint()
        await supplier.rollover(PrivKeyType.PrivKeyECsecp384)
        new_pem = (account_dir / "AcmePrivateKey.pem").read_bytes()
        assert new_pem != old_pem and supplier.key.alg == "ES384"
        assert stat.S_IMODE((account_dir / "AcmePrivateKey.pem").stat().st_mode) == 0o600
        assert account.acme_key_type == PrivKeyType.PrivKeyECsecp384
        name = unique("rolled")
        _order, chain, _key, _results = await issue(supplier, pebble, [name])
        assert leaf_names(chain) == {name}
        assert supplier.key.thumbprint() != old_thumb
    finally:
        await supplier.aclose()

    # The stored key is the new one and still finds the same account.
    again = make_account(pebble)
    supplier = AcmeSupplier(account_dir)
    try:
        await supplier.open(again)
        assert again.acme_account_url == account.acme_account_url
    finally:
        await supplier.aclose()


async def test_deactivated_account_can_no_longer_order(pebble, tmp_path):
    account = make_account(pebble)
    supplier = AcmeSupplier(tmp_path / "acct")
    await supplier.open(account)
    url = account.acme_account_url
    try:
        await supplier.deactivate_account()
        assert account.acme_account_url == ""
        account.acme_account_url = url  # as if the database still held it
        supplier.client.kid = url
        with pytest.raises(SupplierError) as caught:
            await supplier.new_order(make_order([unique("gone")]))
        assert "unauthorized" in str(caught.value) or "deactivated" in str(caught.value)
    finally:
        await supplier.aclose()


async def test_revoke_by_account_key(opened, pebble):
    order, chain, _key, _results = await issue(opened, pebble, [unique("revoke")])
    serial = leaf(chain).serial_number
    assert pebble.cert_status(serial)["Status"] == "Valid"
    await opened.revoke(order, chain.certificate_pem, 4)
    status = pebble.cert_status(serial)
    assert status["Status"] == "Revoked"
    assert status["Reason"] == 4


async def test_revoke_by_certificate_key(opened, pebble):
    _order, chain, key, _results = await issue(opened, pebble, [unique("revkey")])
    serial = leaf(chain).serial_number
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    await opened.revoke_with_cert_key(chain.certificate_pem, pem, 1)
    status = pebble.cert_status(serial)
    assert status["Status"] == "Revoked"
    assert status["Reason"] == 1


async def test_revoke_twice_is_a_readable_problem(opened, pebble):
    order, chain, _key, _results = await issue(opened, pebble, [unique("revtwice")])
    await opened.revoke(order, chain.certificate_pem, 0)
    with pytest.raises(SupplierError) as caught:
        await opened.revoke(order, chain.certificate_pem, 0)
    assert "alreadyRevoked" in str(caught.value)


async def test_cancel_deactivates_the_authorizations(opened, pebble):
    names = [unique("cancel"), unique("cancel")]
    order = make_order(names)
    placed = await opened.new_order(order)
    order.acme_order_url = placed.order_url
    challenges = [challenge_for(a) for a in placed.authorizations[:1]]  # one recorded
    await opened.cancel(order, challenges)
    polled = await opened.poll_order(order, with_authorizations=True)
    assert {a.status for a in polled.authorizations} == {"deactivated"}
    assert polled.status in ("invalid", "deactivated")
    await opened.cancel(order, challenges)  # cancelling again is harmless


async def test_unanswered_challenge_fails_with_the_ca_detail(opened, pebble):
    name = unique("unanswered")
    order = make_order([name])
    placed = await opened.new_order(order)
    order.acme_order_url = placed.order_url
    challenge = challenge_for(placed.authorizations[0])
    await opened.start_challenge(challenge)  # nothing in challtestsrv: 404
    status = await opened.wait_challenge(challenge, timeout=60)
    assert status.status == "invalid"
    assert status.detail.startswith("Failed: ") and len(status.detail) > len("Failed: ")
    polled = await opened.wait_order(order, timeout=60)
    assert polled.status == "invalid"
    csr, _key = make_csr([name])
    with pytest.raises(SupplierError, match="is invalid"):
        await opened.finalize(order, csr)


async def test_rejected_name_is_a_problem_document(opened):
    with pytest.raises(SupplierError) as caught:
        await opened.new_order(make_order(["bad_name.example.com"]))
    assert str(caught.value).startswith("malformed: ")
    assert "illegal character" in caught.value.detail
    assert not caught.value.retryable


async def test_wildcard_without_dns01_is_explained(opened):
    with pytest.raises(SupplierError, match="no http-01 challenge"):
        await opened.new_order(make_order([f"*.{unique('nohttp')}"]))


async def test_json_log_records_requests_without_secrets(pebble, tmp_path):
    log_path = tmp_path / "acme.jsonl"
    supplier = AcmeSupplier(tmp_path / "acct", json_log_path=log_path)
    await supplier.open(make_account(pebble))
    try:
        await issue(supplier, pebble, [unique("logged")])
    finally:
        await supplier.aclose()
    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert {"time", "method", "url", "status"} <= set(records[0])
    posts = [r for r in records if r["method"] == "POST"]
    assert posts and all("protected" in r and "payload" in r for r in posts)
    assert any(isinstance(r["payload"], dict) and "identifiers" in r["payload"] for r in posts)
    text = log_path.read_text()
    assert "PRIVATE KEY" not in text
    key_pem = (tmp_path / "acct" / "AcmePrivateKey.pem").read_text()
    assert key_pem.splitlines()[1] not in text


async def test_unreachable_directory_is_a_retryable_error(tmp_path):
    from tests.servers.pebble import free_port

    url = f"https://127.0.0.1:{free_port()}/dir"
    account = Account(supplier=SupplierProto.SuppProtoAcmeV2, server=url)
    supplier = AcmeSupplier(tmp_path / "acct")
    with pytest.raises(SupplierError) as caught:
        await supplier.open(account)
    await supplier.aclose()
    assert caught.value.retryable
    assert url in str(caught.value) and "cannot connect" in str(caught.value)


async def test_tls_failure_names_the_bundle_problem(pebble, tmp_path):
    # Trust some other CA than the one that made Pebble's API certificate.
    other = tmp_path / "other-ca.pem"
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "someone else")])
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    other.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    account = make_account(pebble, ca_bundle=str(other))
    supplier = AcmeSupplier(tmp_path / "acct")
    with pytest.raises(SupplierError) as caught:
        await supplier.open(account)
    await supplier.aclose()
    assert "TLS failure" in str(caught.value) and pebble.directory_url in str(caught.value)
    assert caught.value.retryable

    missing = make_account(pebble, ca_bundle=str(tmp_path / "nope.pem"))
    with pytest.raises(SupplierError, match="does not exist"):
        await AcmeSupplier(tmp_path / "acct2").open(missing)


async def test_ca_bundle_from_ssl_cert_file(pebble, tmp_path, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(pebble.ca_bundle))
    account = make_account(pebble, ca_bundle="")
    supplier = AcmeSupplier(tmp_path / "acct")
    try:
        await supplier.open(account)
        assert account.acme_account_url
    finally:
        await supplier.aclose()


def test_account_dir_keys_are_pem(tmp_path: Path):
    from engine.suppliers.acme import load_or_create_key

    key, existed = load_or_create_key(tmp_path / "new", PrivKeyType.PrivKeyRsa2048)
    assert not existed and key.alg == "RS256"
    again, existed = load_or_create_key(tmp_path / "new", PrivKeyType.PrivKeyECsecp256)
    assert existed and again.thumbprint() == key.thumbprint()


async def test_twenty_orders_at_once_share_one_account(opened, pebble):
    names = [unique("many") for _ in range(20)]
    results = await asyncio.gather(*(issue(opened, pebble, [n]) for n in names))
    assert [leaf_names(chain) for _o, chain, _k, _r in results] == [{n} for n in names]
