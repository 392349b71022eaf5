"""The Own CA: create and load a CA, sign orders, index.txt and the CRL, checked with openssl.

Fixtures other test modules import (`from tests.test_ownca import ...`):
  ca_dir      a tmp directory with a fresh EC P-256 root + intermediate (password `capw`)
  supplier    an opened OwnCASupplier on it
and the helper `issue(supplier, order, key)` -> IssuedChain (new_order + CSR + finalize).
"""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from engine.crypto import CryptoError, build_csr, generate_key, load_certificates
from engine.crypto.csr import csr_to_der
from engine.model import Account, Order, PrivKeyType, SerNumType, SupplierProto
from engine.suppliers.base import IssuedChain, Supplier, SupplierError
from engine.suppliers.ownca import (
    CA_CERT,
    CA_KEY,
    ROOT_CERT,
    CaIndex,
    IndexEntry,
    OwnCASupplier,
    create_ca,
    load_ca,
    serial_hex,
)

CA_PASSWORD = "capw"


def openssl(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True, cwd=cwd)
    if check and result.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def make_account(directory: Path, **extra) -> Account:
    return Account(
        supplier=SupplierProto.SuppProtoOwnCA,
        work_dir=str(directory),
        ca_cert_file=CA_CERT,
        ca_key_file=CA_KEY,
        ca_key_password=CA_PASSWORD,
        **extra,
    )


@pytest.fixture
def ca_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "ca"
    directory.mkdir()
    create_ca(
        directory,
        root_name="certdesk Test Root",
        intermediate_name="CN=certdesk Test Intermediate,O=certdesk",
        key_type=PrivKeyType.PrivKeyECsecp256,
        validity_days=3650,
        password=CA_PASSWORD,
    )
    return directory


@pytest.fixture
async def supplier(ca_dir: Path) -> OwnCASupplier:
    own = OwnCASupplier()
    await own.open(make_account(ca_dir, crl_url="http://crl.example.test/ca.crl"))
    return own


async def issue(supplier: OwnCASupplier, order: Order, key) -> IssuedChain:
    placed = await supplier.new_order(order)
    order.supp_order_id = placed.order_id
    return await supplier.finalize(order, csr_to_der(build_csr(order, key)))


def new_order(cn: str = "www.example.test", num: int = 1001, **extra) -> Order:
    names = extra.pop("san_names", [cn])
    return Order(common_name=cn, san_names=names, order_num=num, **extra)


# --------------------------------------------------------------------------------------
# Creating and loading


def test_create_ca_writes_root_and_intermediate(ca_dir: Path) -> None:
    for name in ("ownca-root-key.pem", CA_KEY):
        assert (ca_dir / name).stat().st_mode & 0o777 == 0o600
        assert b"ENCRYPTED PRIVATE KEY" in (ca_dir / name).read_bytes()
    inter, root = load_certificates((ca_dir / CA_CERT).read_bytes())
    assert root.subject == root.issuer
    assert inter.issuer == root.subject
    for cert, path_len in ((root, None), (inter, 0)):
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        assert bc.critical and bc.value.ca and bc.value.path_length == path_len
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        assert ku.key_cert_sign and ku.crl_sign
    root_ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = inter.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == root_ski.digest
    assert inter.not_valid_after_utc < root.not_valid_after_utc
    openssl("verify", "-CAfile", ROOT_CERT, "-x509_strict", CA_CERT, cwd=ca_dir)


def test_create_ca_refuses_to_overwrite(ca_dir: Path) -> None:
    before = (ca_dir / CA_KEY).read_bytes()
    with pytest.raises(CryptoError, match="already exists"):
        create_ca(ca_dir, root_name="R", intermediate_name="I", validity_days=30)
    assert (ca_dir / CA_KEY).read_bytes() == before


def test_load_ca_from_bundle_with_key(ca_dir: Path) -> None:
    bundle = ca_dir / "bundle.pem"
    bundle.write_bytes((ca_dir / CA_KEY).read_bytes() + (ca_dir / CA_CERT).read_bytes())
    ca = load_ca(ca_dir, "bundle.pem", password=CA_PASSWORD)
    assert ca.cert.subject.rfc4514_string() == "CN=certdesk Test Intermediate,O=certdesk"
    assert ca.root.subject == ca.root.issuer and len(ca.chain) == 1


def test_load_ca_refuses_key_that_does_not_match(ca_dir: Path) -> None:
    with pytest.raises(CryptoError, match="CA key does not match"):
        load_ca(ca_dir, ROOT_CERT, CA_KEY, CA_PASSWORD)  # root cert, intermediate's key


def test_load_ca_wrong_password_and_missing_key(ca_dir: Path) -> None:
    with pytest.raises(CryptoError, match="Wrong password"):
        load_ca(ca_dir, CA_CERT, CA_KEY, "nope")
    with pytest.raises(CryptoError, match="password is needed"):
        load_ca(ca_dir, CA_CERT, CA_KEY)
    with pytest.raises(CryptoError, match="no private key"):
        load_ca(ca_dir, CA_CERT)
    with pytest.raises(CryptoError, match="Cannot read"):
        load_ca(ca_dir, "missing.pem", CA_KEY, CA_PASSWORD)


async def test_open_reports_a_bad_ca_as_supplier_error(ca_dir: Path) -> None:
    account = make_account(ca_dir)
    account.ca_key_password = "wrong"
    with pytest.raises(SupplierError, match="Wrong password"):
        await OwnCASupplier().open(account)


async def test_load_ca_refuses_a_leaf_as_ca(supplier: OwnCASupplier, ca_dir: Path) -> None:
    key = generate_key(PrivKeyType.PrivKeyECsecp256)
    chain = await issue(supplier, new_order(), key)
    from engine.crypto.keys import key_to_pem

    (ca_dir / "leaf.pem").write_bytes(chain.certificate_pem + key_to_pem(key))
    with pytest.raises(CryptoError, match="not a CA certificate"):
        load_ca(ca_dir, "leaf.pem")


# --------------------------------------------------------------------------------------
# Signing


async def test_supplier_protocol_and_new_order(supplier: OwnCASupplier) -> None:
    assert isinstance(supplier, Supplier)
    placed = await supplier.new_order(new_order(num=1234))
    assert (placed.order_id, placed.status, placed.authorizations) == ("1234", "ready", [])
    with pytest.raises(SupplierError, match="order number"):
        await supplier.new_order(new_order(num=0))
    await supplier.cancel(new_order(), [])  # a no-op that succeeds


async def test_finalize_signs_with_the_intermediate(supplier: OwnCASupplier, ca_dir) -> None:
    order = new_order(
        "shop.example.test",
        1002,
        san_names=["shop.example.test", "*.shop.example.test"],
        validity_days=90,
        serial_type=SerNumType.SerNumSequential,
    )
    key = generate_key(PrivKeyType.PrivKeyRsa2048)
    chain = await issue(supplier, order, key)
    leaf = x509.load_pem_x509_certificate(chain.certificate_pem)
    inter, root = (x509.load_pem_x509_certificate(p) for p in chain.chain_pems)
    assert leaf.serial_number == 1002
    assert leaf.issuer == inter.subject and root.subject == root.issuer
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert timedelta(days=90) <= lifetime <= timedelta(days=90, minutes=2)
    ext = leaf.extensions
    assert ext.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert ext.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    ) == ["shop.example.test", "*.shop.example.test"]
    assert set(ext.get_extension_for_class(x509.ExtendedKeyUsage).value) == {
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    }
    ku = ext.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and ku.key_encipherment and not ku.key_cert_sign
    ski = inter.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == (
        ski.digest
    )
    cdp = ext.get_extension_for_class(x509.CRLDistributionPoints).value
    assert cdp[0].full_name[0].value == "http://crl.example.test/ca.crl"

    (ca_dir / "leaf.pem").write_bytes(chain.certificate_pem)
    (ca_dir / "inter.pem").write_bytes(chain.chain_pems[0])
    openssl("verify", "-CAfile", ROOT_CERT, "-untrusted", "inter.pem", "leaf.pem", cwd=ca_dir)

    with pytest.raises(SupplierError, match="already issued"):
        await issue(supplier, order, key)  # the same sequential serial again


async def test_finalize_refuses_a_corrupt_csr(supplier: OwnCASupplier) -> None:
    with pytest.raises(SupplierError, match="corrupt"):
        await supplier.finalize(new_order(), b"\x30\x03not a csr")


# --------------------------------------------------------------------------------------
# index.txt and the CRL

# `openssl ca -status` exits 1 even when it finds the serial: read its words instead.
OPENSSL_CA_CNF = """\
[ ca ]
default_ca = own
[ own ]
dir = .
database = ./index.txt
serial = ./serial
"""


async def test_index_and_crl_follow_issue_and_revoke(supplier: OwnCASupplier, ca_dir) -> None:
    key = generate_key(PrivKeyType.PrivKeyECsecp256)
    first = await issue(supplier, new_order("a.example.test", 1001), key)
    second = await issue(supplier, new_order("b.example.test", 1002), key)
    serials = [
        x509.load_pem_x509_certificate(c.certificate_pem).serial_number for c in (first, second)
    ]

    lines = (ca_dir / "index.txt").read_text().splitlines()
    assert len(lines) == 2
    status, expires, revoked, serial, file, subject = lines[0].split("\t")
    assert (status, revoked, serial) == ("V", "", serial_hex(serials[0]))
    assert serial == serial.upper() and len(serial) % 2 == 0
    assert len(expires) == 13 and expires.endswith("Z")
    assert file.endswith("OwnCA-1001-a_example_test-certonly.pem")
    assert subject == "/CN=a.example.test"

    (ca_dir / "ca.cnf").write_text(OPENSSL_CA_CNF)
    status = openssl(
        "ca", "-config", "ca.cnf", "-status", serial_hex(serials[0]), cwd=ca_dir, check=False
    )
    assert "=Valid (V)" in status.stdout + status.stderr

    await supplier.revoke(new_order("a.example.test", 1001), first.certificate_pem, 1)
    status = openssl(
        "ca", "-config", "ca.cnf", "-status", serial_hex(serials[0]), cwd=ca_dir, check=False
    )
    assert "=Revoked (R)" in status.stdout + status.stderr
    status = openssl(
        "ca", "-config", "ca.cnf", "-status", serial_hex(serials[1]), cwd=ca_dir, check=False
    )
    assert "=Valid (V)" in status.stdout + status.stderr
    assert (
        (ca_dir / "index.txt").read_text().splitlines()[0].split("\t")[2].endswith(",keyCompromise")
    )

    verify = openssl("crl", "-in", "crl.pem", "-CAfile", CA_CERT, "-verify", "-noout", cwd=ca_dir)
    assert "verify OK" in verify.stdout + verify.stderr
    text = openssl("crl", "-in", "crl.der", "-inform", "DER", "-text", "-noout", cwd=ca_dir).stdout
    assert f"Serial Number: {serial_hex(serials[0])}" in text
    assert serial_hex(serials[1]) not in text
    assert "Key Compromise" in text

    crl = x509.load_pem_x509_crl((ca_dir / "crl.pem").read_bytes())
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 1
    await supplier.revoke(new_order("b.example.test", 1002), second.certificate_pem, 4)
    crl = x509.load_der_x509_crl((ca_dir / "crl.der").read_bytes())
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 2
    assert {r.serial_number for r in crl} == set(serials)

    with pytest.raises(SupplierError, match="already revoked"):
        await supplier.revoke(new_order(), first.certificate_pem, 1)


async def test_revoke_refuses_unknown_reason_and_foreign_certificate(
    supplier: OwnCASupplier, tmp_path: Path
) -> None:
    key = generate_key(PrivKeyType.PrivKeyECsecp256)
    chain = await issue(supplier, new_order(), key)
    with pytest.raises(SupplierError, match="reason 9 is not supported"):
        await supplier.revoke(new_order(), chain.certificate_pem, 9)
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    create_ca(other_dir, root_name="Other", intermediate_name="Other I", validity_days=30)
    other = OwnCASupplier()
    await other.open(Account(work_dir=str(other_dir), ca_cert_file=CA_CERT, ca_key_file=CA_KEY))
    with pytest.raises(SupplierError, match="not by this CA"):
        await other.revoke(new_order(), chain.certificate_pem, 0)


def test_index_reads_ics_style_lines(tmp_path: Path) -> None:
    # ICS: lower-case serial, a seventh SAN column, CRLF.
    line = "V\t270101120000Z\t\t3e9\tC:\\certs\\x.pem\t/CN=www.example.test\twww.example.test, a.test\r\n"
    (tmp_path / "index.txt").write_bytes(line.encode())
    (entry,) = CaIndex(tmp_path).entries()
    assert entry.serial == 1001 and entry.subject == "/CN=www.example.test"
    assert entry.expires == datetime(2027, 1, 1, 12, 0, tzinfo=UTC)
    assert entry.line() == "V\t270101120000Z\t\t03E9\tC:\\certs\\x.pem\t/CN=www.example.test\n"


def test_index_dates_after_2049_use_generalized_time() -> None:
    entry = IndexEntry("V", datetime(2051, 6, 1, tzinfo=UTC), 255, "", "/CN=x")
    assert entry.line().split("\t")[1] == "20510601000000Z"
    assert entry.line().split("\t")[4] == "unknown"
    assert IndexEntry.parse(entry.line()).expires == datetime(2051, 6, 1, tzinfo=UTC)


def test_ca_key_files_are_private(ca_dir: Path) -> None:
    for name in os.listdir(ca_dir):
        mode = (ca_dir / name).stat().st_mode & 0o777
        assert mode == (0o600 if "key" in name else 0o644), name
