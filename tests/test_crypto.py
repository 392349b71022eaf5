"""Keys, CSRs and the chain check, read back with cryptography and with openssl."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from engine.crypto import (
    CryptoError,
    apply_chain_report,
    build_csr,
    check_chain,
    check_csr,
    csr_to_pem,
    generate_key,
    key_to_pem,
    key_type_of,
    load_key,
    signing_hash,
)
from engine.crypto.chain import INFO_LIMIT
from engine.crypto.keys import public_key_matches
from engine.model import ChainResult, Digest, Order, PrivKeyCipher, PrivKeyType
from tests.test_ownca import ca_dir, issue, new_order, openssl, supplier  # noqa: F401

SUPPORTED = [
    PrivKeyType.PrivKeyRsa2048,
    PrivKeyType.PrivKeyRsa3072,
    PrivKeyType.PrivKeyRsa4096,
    PrivKeyType.PrivKeyECsecp256,
    PrivKeyType.PrivKeyECsecp384,
    PrivKeyType.PrivKeyECsecp512,
    PrivKeyType.PrivKeyEd25519,
]
_KEYS: dict[PrivKeyType, object] = {}


def cached_key(key_type: PrivKeyType):
    """One key per type per worker: RSA 4096 generation is slow and not what is tested."""
    if key_type not in _KEYS:
        _KEYS[key_type] = generate_key(key_type)
    return _KEYS[key_type]


# --------------------------------------------------------------------------------------
# Keys


@pytest.mark.parametrize("key_type", SUPPORTED)
def test_generate_each_key_type(key_type: PrivKeyType) -> None:
    key = cached_key(key_type)
    assert key_type_of(key) == key_type


def test_key_sizes_and_curves() -> None:
    assert cached_key(PrivKeyType.PrivKeyRsa3072).key_size == 3072
    assert isinstance(cached_key(PrivKeyType.PrivKeyECsecp512).curve, ec.SECP521R1)
    assert isinstance(cached_key(PrivKeyType.PrivKeyEd25519), ed25519.Ed25519PrivateKey)


def test_rsa1024_is_forced_up_to_2048() -> None:
    key = generate_key(PrivKeyType.PrivKeyRsa1024)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048


@pytest.mark.parametrize("key_type", [PrivKeyType.PrivKeyRsaPss2048, PrivKeyType.PrivKeyECsecp256k])
def test_unsupported_key_types(key_type: PrivKeyType) -> None:
    with pytest.raises(CryptoError, match="not supported"):
        generate_key(key_type)


@pytest.mark.parametrize(
    ("cipher", "openssl_name"),
    [
        (PrivKeyCipher.PrivKeyEncAES128, "aes-128-cbc"),
        (PrivKeyCipher.PrivKeyEncAES192, "aes-192-cbc"),
        (PrivKeyCipher.PrivKeyEncAES256, "aes-256-cbc"),
        (PrivKeyCipher.PrivKeyEncTripleDES, "aes-256-cbc"),  # 3DES is only read, never written
    ],
)
@pytest.mark.parametrize("key_type", [PrivKeyType.PrivKeyRsa2048, PrivKeyType.PrivKeyECsecp384])
def test_encrypted_keys_open_in_openssl(tmp_path, key_type, cipher, openssl_name) -> None:
    key = cached_key(key_type)
    pem = key_to_pem(key, "s3cret pw", cipher)
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    path = tmp_path / "key.pem"
    path.write_bytes(pem)
    assert openssl_name in openssl("asn1parse", "-in", str(path)).stdout.lower()
    out = openssl("pkey", "-in", str(path), "-passin", "pass:s3cret pw", "-pubout").stdout
    assert "PUBLIC KEY" in out
    assert public_key_matches(load_key(pem, "s3cret pw"), key.public_key())


def test_unencrypted_key_without_password() -> None:
    key = cached_key(PrivKeyType.PrivKeyEd25519)
    pem = key_to_pem(key)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert public_key_matches(load_key(pem), key.public_key())
    assert public_key_matches(load_key(pem, "ignored"), key.public_key())


def test_wrong_or_missing_password_is_clear() -> None:
    pem = key_to_pem(cached_key(PrivKeyType.PrivKeyECsecp256), "right")
    with pytest.raises(CryptoError, match=r"Wrong password for the private key in k\.pem"):
        load_key(pem, "wrong", source="k.pem")
    with pytest.raises(CryptoError, match="encrypted: a password is needed"):
        load_key(pem)


@pytest.mark.parametrize(
    "command",
    [
        ["genrsa", "-traditional", "-des3", "-passout", "pass:old", "2048"],  # Proc-Type/DEK-Info
        ["genrsa", "-des3", "-passout", "pass:old", "2048"],  # PKCS#8, 3DES
        ["genrsa", "-traditional", "2048"],  # PKCS#1
        ["ecparam", "-genkey", "-name", "prime256v1", "-noout"],  # SEC1
        ["genpkey", "-algorithm", "ed25519"],
    ],
)
def test_reads_openssl_made_keys(tmp_path, command) -> None:
    path = tmp_path / "old.pem"
    openssl(command[0], "-out", str(path), *command[1:])  # genrsa wants the size last
    data = path.read_bytes()
    key = load_key(data, "old" if b"ENCRYPTED" in data else None)
    key_type_of(key)
    if b"ENCRYPTED" in data:
        with pytest.raises(CryptoError, match="Wrong password"):
            load_key(data, "new")


@pytest.mark.parametrize(
    "data",
    [
        b"-----BEGIN PRIVATE KEY-----\nMIIBVgIBADANBgkqhkiG9w0BAQEFAAS\n-----END PRIVATE KEY-----\n",
        b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        b"not a key at all",
    ],
)
def test_corrupt_keys_are_clear(data) -> None:
    with pytest.raises(CryptoError, match=r"corrupt|No private key"):
        load_key(data)


@pytest.mark.parametrize(
    ("digest", "name"),
    [
        (Digest.Digest_sha256, "sha256"),
        (Digest.Digest_sha384, "sha384"),
        (Digest.Digest_sha512, "sha512"),
        (Digest.Digest_sha3_256, "sha3-256"),
        (Digest.Digest_sha3_384, "sha3-384"),
        (Digest.Digest_sha3_512, "sha3-512"),
        (Digest.Digest_None, "sha256"),
    ],
)
def test_signing_digests(digest, name) -> None:
    assert signing_hash(digest, cached_key(PrivKeyType.PrivKeyRsa2048)).name == name
    assert signing_hash(digest, cached_key(PrivKeyType.PrivKeyEd25519)) is None


@pytest.mark.parametrize("digest", [Digest.Digest_md5, Digest.Digest_sha1, Digest.Digest_shake128])
def test_weak_digests_are_refused(digest) -> None:
    with pytest.raises(CryptoError, match="not supported"):
        signing_hash(digest, cached_key(PrivKeyType.PrivKeyECsecp256))


# --------------------------------------------------------------------------------------
# CSRs


def full_order(**extra) -> Order:
    fields = dict(
        common_name="www.example.test",
        san_names=["www.example.test", "*.example.test", "bücher.example.test", "192.0.2.7"],
        country="gb",
        subject_state="Surrey",
        locality="Croydon",
        organization="Example Ltd",
        org_unit="Web",
        contact_email="admin@example.test",
    )
    return Order(**(fields | extra))


@pytest.mark.parametrize("key_type", SUPPORTED)
@pytest.mark.parametrize("digest", [Digest.Digest_sha384, Digest.Digest_sha3_256])
def test_build_csr_for_each_key_and_digest(tmp_path, key_type, digest) -> None:
    key = cached_key(key_type)
    if digest == Digest.Digest_sha3_256 and isinstance(key, ec.EllipticCurvePrivateKey):
        with pytest.raises(CryptoError, match="cannot sign with an EC key"):
            build_csr(full_order(digest=digest), key)
        return
    csr = build_csr(full_order(digest=digest), key)
    assert csr.is_signature_valid
    if key_type != PrivKeyType.PrivKeyEd25519:
        assert isinstance(csr.signature_hash_algorithm, type(signing_hash(digest, key)))
    path = tmp_path / "req.pem"
    path.write_bytes(csr_to_pem(csr))
    text = openssl("req", "-in", str(path), "-verify", "-noout", "-text").stdout
    assert "DNS:xn--bcher-kva.example.test" in text
    assert "DNS:*.example.test" in text and "IP Address:192.0.2.7" in text


def test_csr_subject_fields() -> None:
    csr = build_csr(full_order(), cached_key(PrivKeyType.PrivKeyECsecp256))
    assert csr.subject.rfc4514_string() == (
        "1.2.840.113549.1.9.1=admin@example.test,CN=www.example.test,OU=Web,O=Example Ltd,"
        "L=Croydon,ST=Surrey,C=GB"
    )
    with pytest.raises(CryptoError, match="two-letter"):
        build_csr(full_order(country="Britain"), cached_key(PrivKeyType.PrivKeyECsecp256))


def test_check_csr_reads_names_and_key_type(tmp_path) -> None:
    key = cached_key(PrivKeyType.PrivKeyECsecp384)
    csr_pem = csr_to_pem(build_csr(full_order(), key))
    info = check_csr(csr_pem, key_to_pem(key, "pw"), "pw")
    assert info.cn == "www.example.test"
    assert info.sans == [
        "www.example.test",
        "*.example.test",
        "xn--bcher-kva.example.test",
        "192.0.2.7",
    ]
    assert info.key_type == PrivKeyType.PrivKeyECsecp384


def test_check_csr_made_by_openssl(tmp_path) -> None:
    openssl(
        "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "k.pem", "-out", "r.pem",
        "-subj", "/CN=old.example.test", "-addext", "subjectAltName=DNS:old.example.test,DNS:b.test",
        cwd=tmp_path,
    )  # fmt: skip
    info = check_csr((tmp_path / "r.pem").read_bytes(), (tmp_path / "k.pem").read_bytes())
    assert (info.cn, info.sans) == ("old.example.test", ["old.example.test", "b.test"])
    assert info.key_type == PrivKeyType.PrivKeyRsa2048


def test_check_csr_refuses_a_key_that_does_not_match() -> None:
    csr_pem = csr_to_pem(build_csr(full_order(), cached_key(PrivKeyType.PrivKeyECsecp256)))
    other = key_to_pem(cached_key(PrivKeyType.PrivKeyECsecp384))
    with pytest.raises(CryptoError, match="does not match the CSR"):
        check_csr(csr_pem, other)


def test_check_csr_refuses_corrupt_input() -> None:
    key_pem = key_to_pem(cached_key(PrivKeyType.PrivKeyECsecp256))
    with pytest.raises(CryptoError, match="corrupt"):
        check_csr(
            b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
            key_pem,
        )
    with pytest.raises(CryptoError, match="No certificate request"):
        check_csr(key_pem, key_pem)


# --------------------------------------------------------------------------------------
# The chain check


async def test_chain_ok_for_each_key_type(supplier) -> None:  # noqa: F811
    for key_type in SUPPORTED:
        key = cached_key(key_type)
        order = new_order("www.example.test", san_names=["www.example.test", "*.example.test"])
        chain = await issue(supplier, order, key)
        report = check_chain(
            chain.certificate_pem, chain.chain_pems, key, order.san_names, supplier.trust_roots()
        )
        assert report.result == ChainResult.chainOK, (key_type, report.errors)
        assert report.cn == "www.example.test"
        assert report.sans == "www.example.test, *.example.test"
        assert [c.subject.rfc4514_string() for c in report.chain][-1] == "CN=certdesk Test Root"
        assert report.not_before < datetime.now(UTC) < report.not_after


async def test_chain_failures(supplier, tmp_path) -> None:  # noqa: F811
    key = cached_key(PrivKeyType.PrivKeyECsecp256)
    order = new_order("www.example.test")
    chain = await issue(supplier, order, key)
    roots = supplier.trust_roots()
    leaf, inters = chain.certificate_pem, chain.chain_pems

    wrong_key = check_chain(
        leaf, inters, cached_key(PrivKeyType.PrivKeyECsecp384), [order.common_name], roots
    )
    assert wrong_key.result == ChainResult.chainFail
    assert wrong_key.errors.startswith("Chain Failed - ") and "private key" in wrong_key.errors

    other = check_chain(leaf, inters, key, ["other.example.test"], roots)
    assert "does not name other.example.test" in other.errors

    expired = check_chain(
        leaf, inters, key, [order.common_name], roots, datetime.now(UTC) + timedelta(days=400)
    )
    assert expired.result == ChainResult.chainFail and "expired" in expired.errors

    early = check_chain(
        leaf, inters, key, [order.common_name], roots, datetime.now(UTC) - timedelta(days=1)
    )
    assert "not valid before" in early.errors

    no_inter = check_chain(leaf, [], key, [order.common_name], roots)
    assert "no trusted root found for issuer" in no_inter.errors

    untrusted = check_chain(leaf, inters[:1], key, [order.common_name], None)  # system store
    assert untrusted.result == ChainResult.chainFail

    soon = check_chain(
        leaf, inters, key, [order.common_name], roots, datetime.now(UTC) + timedelta(days=360)
    )
    assert soon.result == ChainResult.chainWarn and soon.errors.startswith("Chain Warning - ")

    corrupt = check_chain(
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", [], key, [], roots
    )
    assert corrupt.result == ChainResult.chainFail and "corrupt" in corrupt.errors


async def test_wildcard_covers_a_host_name(supplier) -> None:  # noqa: F811
    key = cached_key(PrivKeyType.PrivKeyECsecp256)
    order = new_order("*.example.test", san_names=["*.example.test"])
    chain = await issue(supplier, order, key)
    report = check_chain(
        chain.certificate_pem, chain.chain_pems, key, ["*.example.test", "a.example.test"],
        supplier.trust_roots(),
    )  # fmt: skip
    assert report.result == ChainResult.chainOK, report.errors
    bad = check_chain(
        chain.certificate_pem, chain.chain_pems, key, ["a.b.example.test"], supplier.trust_roots()
    )
    assert bad.result == ChainResult.chainFail


async def test_apply_chain_report_fills_the_order(supplier) -> None:  # noqa: F811
    key = cached_key(PrivKeyType.PrivKeyRsa2048)
    order = new_order("www.example.test")
    chain = await issue(supplier, order, key)
    report = check_chain(
        chain.certificate_pem, chain.chain_pems, key, [order.common_name], supplier.trust_roots()
    )
    report.info += "x" * 1000
    apply_chain_report(order, report)
    leaf = x509.load_pem_x509_certificate(chain.certificate_pem)
    assert order.chain_result == ChainResult.chainOK
    assert len(order.cert_chain_info) == INFO_LIMIT and order.cert_chain_info.startswith(
        "#1 Subject: CN=www.example.test"
    )
    assert order.cert_errors == ""
    assert (order.cert_not_before, order.cert_not_after) == (
        leaf.not_valid_before_utc,
        leaf.not_valid_after_utc,
    )
    assert (order.cert_cn, order.cert_sans) == ("www.example.test", "www.example.test")


def test_leaf_order_does_not_matter(tmp_path: Path) -> None:
    # A CA that sends the chain root-first: the leaf is still found by its name.
    from engine.crypto.chain import pick_leaf

    key = cached_key(PrivKeyType.PrivKeyECsecp256)
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "self.example.test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(now).not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    leaf, others = pick_leaf([cert], ["self.example.test"])
    assert leaf is cert and others == []


async def test_ed25519_ca_is_a_warning(tmp_path) -> None:
    # Ed25519 signatures verify, but the web PKI profile does not allow them: a warning.
    from engine.model import Account
    from engine.suppliers.ownca import CA_CERT, CA_KEY, OwnCASupplier, create_ca

    create_ca(tmp_path, root_name="Ed Root", intermediate_name="Ed CA",
              key_type=PrivKeyType.PrivKeyEd25519, validity_days=30)  # fmt: skip
    own = OwnCASupplier()
    await own.open(Account(work_dir=str(tmp_path), ca_cert_file=CA_CERT, ca_key_file=CA_KEY))
    key = cached_key(PrivKeyType.PrivKeyEd25519)
    order = new_order("ed.example.test")
    chain = await issue(own, order, key)
    report = check_chain(
        chain.certificate_pem, chain.chain_pems, key, [order.common_name], own.trust_roots()
    )
    assert report.result == ChainResult.chainWarn, report.errors
    assert report.errors.startswith("Chain Warning - not acceptable to web browsers")
    (tmp_path / "leaf.pem").write_bytes(chain.certificate_pem)
    (tmp_path / "inter.pem").write_bytes(chain.chain_pems[0])
    openssl(
        "verify", "-CAfile", "ownca-root.pem", "-untrusted", "inter.pem", "leaf.pem", cwd=tmp_path
    )
