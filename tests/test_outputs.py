"""Certificate files as ICS names them, read back with cryptography and openssl; a real TLS
handshake with the issued bundle; install copies and the install command."""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7, pkcs12

from engine.crypto import build_csr, load_certificates, load_key
from engine.crypto.keys import public_key_matches
from engine.model import OutFmt, PrivKeyCipher, PrivKeyType, SupplierProto
from engine.outputs import (
    OutputError,
    cert_file_name,
    effective_formats,
    final_name,
    install_certificate,
    order_name,
    redistribute,
    save_certificate_files,
    save_key_and_csr,
    work_name,
)
from engine.suppliers.base import IssuedChain
from engine.suppliers.ownca import ROOT_CERT
from tests.test_crypto import SUPPORTED, cached_key
from tests.test_ownca import ca_dir, issue, new_order, openssl, supplier  # noqa: F401

OWN = SupplierProto.SuppProtoOwnCA
CN = "www.example.test"
F = OutFmt


def test_cert_file_names() -> None:
    assert cert_file_name("*.telecom-tariffs.co.uk") == "x_telecom-tariffs_co_uk"
    assert cert_file_name("my host.example.com") == "my_host_example_com"
    assert work_name("/d", SupplierProto.SuppProtoAcmeV2, "a.b").name == "LE-work-a_b"
    assert work_name("/d", SupplierProto.SuppProtoCertCentre, "a.b").name == "CC-work-a_b"
    assert order_name("/d", SupplierProto.SuppProtoAcmeV2, "5860824", "test3.x.co.uk") == Path(
        "/d/LE-5860824-test3_x_co_uk"
    )
    assert order_name("/d", OWN, "1001", "*.a.b").name == "OwnCA-1001-x_a_b"
    assert final_name("/d", "*.a.b") == Path("/d/x_a_b")


def test_no_format_means_separate_pem() -> None:
    assert effective_formats(frozenset({F.OutFmtP7})) == {F.OutFmtP7, F.OutFmtSep}
    assert effective_formats(frozenset({F.OutFmtBudl})) == {F.OutFmtBudl}


async def collect(supplier, out: Path, key_type=PrivKeyType.PrivKeyECsecp256, num=1001, **extra):  # noqa: F811
    """Issue a certificate from the Own CA and save its files into `out`."""
    key = cached_key(key_type)
    order = new_order(CN, num, san_names=[CN, "*.example.test"], **extra)
    placed = await supplier.new_order(order)
    order.supp_order_id = placed.order_id
    csr = build_csr(order, key)
    save_key_and_csr(order, out, OWN, key, csr)
    chain = await supplier.finalize(order, csr.public_bytes(Encoding.DER))
    written = save_certificate_files(order, out, OWN, key, csr, chain)
    return order, key, chain, written


FORMATS = {
    "sep": {F.OutFmtSep},
    "sep-pwpem": {F.OutFmtSep, F.OutFmtPwPem},
    "bundle": {F.OutFmtBudl},
    "bundle-pwpem": {F.OutFmtBudl, F.OutFmtPwPem},
    "pfx": {F.OutFmtP12},
    "pfx-pw": {F.OutFmtP12, F.OutFmtPwP12},
    "p7": {F.OutFmtP7},
    "csr": {F.OutFmtReq},
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("key_type", SUPPORTED)
async def test_each_key_type_and_format(supplier, ca_dir, tmp_path, key_type, fmt) -> None:  # noqa: F811
    out = tmp_path / "acct"
    out.mkdir()
    formats = frozenset(FORMATS[fmt])
    order, key, _chain, written = await collect(
        supplier, out, key_type, out_formats=formats, key_password="k3y pw",
        key_cipher=PrivKeyCipher.PrivKeyEncAES128,
    )  # fmt: skip
    root = str(ca_dir / ROOT_CERT)
    final = final_name(out, CN)
    ordered = order_name(out, OWN, "1001", CN)
    names = {p.name for p in written}
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "stage files left behind"
    for path in out.iterdir():
        private = path.name.endswith(("-privatekey.pem", "-bundle.pem", ".pfx"))
        assert path.stat().st_mode & 0o777 == (0o600 if private else 0o644), path.name

    assert order.file_cert == str(ordered) + "-certonly.pem" and Path(order.file_cert).is_file()
    assert order.part_fname_final == str(final) and order.part_fname_order == str(ordered)
    key_pw = "k3y pw" if F.OutFmtPwPem in formats else None
    passin = ["-passin", f"pass:{key_pw}"] if key_pw else []

    def has(suffix: str) -> Path:
        path = final.with_name(final.name + suffix)
        assert path.name in names and path.is_file(), suffix
        assert ordered.with_name(ordered.name + suffix).is_file() or suffix in (
            "-privatekey.pem", "-request.pem"
        )  # fmt: skip
        return path

    if fmt.startswith("sep") or fmt in ("p7", "csr"):  # Sep is added when nothing else is
        cert, inters, key_file = has("-certonly.pem"), has("-inters.pem"), has("-privatekey.pem")
        openssl("verify", "-CAfile", root, "-untrusted", str(inters), str(cert))
        openssl("pkey", "-in", str(key_file), *passin, "-noout")
        assert (b"ENCRYPTED" in key_file.read_bytes()) == bool(key_pw)
        assert public_key_matches(load_key(key_file.read_bytes(), key_pw), key.public_key())
    if fmt.startswith("bundle"):
        bundle = has("-bundle.pem")
        certs = load_certificates(bundle.read_bytes())
        assert next(c.subject.rfc4514_string() for c in certs) == f"CN={CN}" and len(certs) == 2
        assert public_key_matches(load_key(bundle.read_bytes(), key_pw), certs[0].public_key())
        openssl("verify", "-CAfile", root, "-untrusted", str(bundle), str(bundle))
        openssl("pkey", "-in", str(bundle), *passin, "-noout")
        assert order.file_bundle == str(ordered) + "-bundle.pem"
        assert not final.with_name(final.name + "-certonly.pem").exists()
    if fmt.startswith("pfx"):
        pfx = has(".pfx")
        password = "k3y pw" if fmt == "pfx-pw" else ""
        info = openssl("pkcs12", "-info", "-in", str(pfx), "-passin", f"pass:{password}", "-nodes")
        assert f"subject=CN = {CN}" in info.stdout and "PRIVATE KEY" in info.stdout
        k, c, extra = pkcs12.load_key_and_certificates(pfx.read_bytes(), password.encode() or None)
        assert public_key_matches(k, c.public_key()) and len(extra) == 1
        if password:
            bad = openssl(
                "pkcs12", "-info", "-in", str(pfx), "-passin", "pass:wrong", "-noout", check=False
            )
            assert bad.returncode != 0
        assert order.file_bundle == str(ordered) + ".pfx"
    if fmt == "p7":
        p7 = has(".p7")
        text = openssl("pkcs7", "-in", str(p7), "-print_certs", "-noout").stdout
        assert f"subject=CN = {CN}" in text and "certdesk Test Intermediate" in text
        assert b"PRIVATE" not in p7.read_bytes()
        assert len(pkcs7.load_pem_pkcs7_certificates(p7.read_bytes())) == 2
    if fmt == "csr":
        req = has("-request.pem")
        openssl("req", "-in", str(req), "-verify", "-noout")


async def test_pfx_password_defaults_to_password(supplier, tmp_path) -> None:  # noqa: F811
    formats = frozenset({F.OutFmtP12, F.OutFmtPwP12})
    _order, key, *_ = await collect(supplier, tmp_path, out_formats=formats, key_password="")
    pfx = final_name(tmp_path, CN).with_name(cert_file_name(CN) + ".pfx")
    openssl("pkcs12", "-info", "-in", str(pfx), "-passin", "pass:password", "-noout")
    k, *_ = pkcs12.load_key_and_certificates(pfx.read_bytes(), b"password")
    assert public_key_matches(k, key.public_key())


async def test_key_and_csr_get_work_names_until_the_order_id_is_known(tmp_path) -> None:
    key = cached_key(PrivKeyType.PrivKeyECsecp256)
    order = new_order(CN)
    written = save_key_and_csr(
        order, tmp_path, SupplierProto.SuppProtoCertCentre, key, build_csr(order, key)
    )
    assert [p.name for p in written] == [
        "CC-work-www_example_test-privatekey.pem",
        "CC-work-www_example_test-request.pem",
    ]
    assert order.file_key == str(written[0])
    order.supp_order_id = "77"
    written = save_key_and_csr(
        order, tmp_path, SupplierProto.SuppProtoCertCentre, key, build_csr(order, key)
    )
    assert written[0].name == "CC-77-www_example_test-privatekey.pem"
    assert written[0].stat().st_mode & 0o777 == 0o600


async def test_reordering_keeps_earlier_order_files(supplier, tmp_path) -> None:  # noqa: F811
    first, *_ = await collect(supplier, tmp_path, num=1001)
    second, *_ = await collect(supplier, tmp_path, PrivKeyType.PrivKeyECsecp384, num=1002)
    one = x509.load_pem_x509_certificate(Path(first.file_cert).read_bytes())
    two = x509.load_pem_x509_certificate(Path(second.file_cert).read_bytes())
    assert Path(first.file_cert).name == "OwnCA-1001-www_example_test-certonly.pem"
    assert Path(second.file_cert).name == "OwnCA-1002-www_example_test-certonly.pem"
    assert one.serial_number != two.serial_number
    final = x509.load_pem_x509_certificate(
        (tmp_path / "www_example_test-certonly.pem").read_bytes()
    )
    assert final.serial_number == two.serial_number
    assert Path(first.file_key).is_file() and Path(second.file_key).is_file()
    final_key = load_key((tmp_path / "www_example_test-privatekey.pem").read_bytes())
    assert public_key_matches(final_key, two.public_key())


async def test_mismatched_key_writes_nothing(supplier, tmp_path) -> None:  # noqa: F811
    tmp_path = tmp_path / "acct"  # beside the CA directory
    tmp_path.mkdir()
    order, _key, chain, _ = await collect(supplier, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    order.supp_order_id = "1002"
    with pytest.raises(OutputError, match="does not match the private key"):
        save_certificate_files(
            order, tmp_path, OWN, cached_key(PrivKeyType.PrivKeyRsa2048), None, chain
        )
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


async def test_failure_half_way_leaves_the_old_files(supplier, tmp_path) -> None:  # noqa: F811
    tmp_path = tmp_path / "acct"  # beside the CA directory
    tmp_path.mkdir()
    formats = frozenset({F.OutFmtSep, F.OutFmtBudl, F.OutFmtP12})
    _order, _key, _chain, _ = await collect(supplier, tmp_path, out_formats=formats)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    # The last final file cannot be replaced: a directory is in its way.
    (tmp_path / "www_example_test.pfx").unlink()
    (tmp_path / "www_example_test.pfx").mkdir()
    new_key = cached_key(PrivKeyType.PrivKeyECsecp384)
    order2 = new_order(CN, 1002, san_names=[CN, "*.example.test"], out_formats=formats)
    order2.supp_order_id = "1002"
    chain2 = await supplier.finalize(order2, build_csr(order2, new_key).public_bytes(Encoding.DER))
    with pytest.raises(OutputError, match=r"www_example_test\.pfx"):
        save_certificate_files(order2, tmp_path, OWN, new_key, None, chain2)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    before.pop("www_example_test.pfx")
    assert after == before  # no OwnCA-1002-* files, finals unchanged, no stage files


# --------------------------------------------------------------------------------------
# TLS with the issued bundle


def _serve_once(context: ssl.SSLContext, listener: socket.socket, result: dict) -> None:
    conn, _ = listener.accept()
    try:
        with context.wrap_socket(conn, server_side=True) as tls:
            result["version"] = tls.version()
            tls.sendall(b"hello from certdesk")
    except (ssl.SSLError, OSError) as exc:
        result["error"] = exc


@pytest.mark.parametrize("key_type", SUPPORTED)
async def test_tls_handshake_with_issued_bundle(supplier, ca_dir, tmp_path, key_type) -> None:  # noqa: F811
    formats = frozenset({F.OutFmtBudl, F.OutFmtPwPem})
    await collect(supplier, tmp_path, key_type, out_formats=formats, key_password="tls pw")
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "www_example_test-bundle.pem", password="tls pw")
    client_ctx = ssl.create_default_context(cafile=str(ca_dir / ROOT_CERT))  # only the root
    with socket.create_server(("127.0.0.1", 0)) as listener:
        result: dict = {}
        thread = threading.Thread(target=_serve_once, args=(server_ctx, listener, result))
        thread.start()
        try:
            with (
                socket.create_connection(listener.getsockname()) as raw,
                client_ctx.wrap_socket(raw, server_hostname="api.example.test") as tls,
            ):
                peer = tls.getpeercert()
                data = tls.recv(100)
        finally:
            thread.join(10)
    assert "error" not in result, result
    assert data == b"hello from certdesk"
    assert ("DNS", "*.example.test") in peer["subjectAltName"]


# --------------------------------------------------------------------------------------
# Install


async def test_install_copies_and_runs_the_command(supplier, tmp_path) -> None:  # noqa: F811
    out, web1, web2 = tmp_path / "acct", tmp_path / "web1", tmp_path / "web2"
    for d in (out, web1, web2):
        d.mkdir()
    order, *_ = await collect(supplier, out, out_formats=frozenset({F.OutFmtSep, F.OutFmtBudl}))
    order.pub_web_dirs = [str(web1), str(web2)]
    order.install_command = 'echo "cn=$CERTDESK_CN cert=$CERTDESK_CERT key=$CERTDESK_KEY"; exit 3'
    result = install_certificate(order, out)
    expected = {
        "www_example_test" + s
        for s in ("-certonly.pem", "-inters.pem", "-privatekey.pem", "-bundle.pem")
    }
    for web in (web1, web2):
        assert {p.name for p in web.iterdir()} == expected
        assert (web / "www_example_test-privatekey.pem").stat().st_mode & 0o777 == 0o600
        assert (web / "www_example_test-certonly.pem").read_bytes() == (
            out / "www_example_test-certonly.pem"
        ).read_bytes()
    assert len(result.copied) == 8
    assert order.part_fname_server == [
        str(web1 / "www_example_test"),
        str(web2 / "www_example_test"),
    ]
    assert result.exit_code == 3 and not result.ok
    assert (
        f"cn={CN} cert={out}/www_example_test-certonly.pem key={out}/www_example_test-privatekey.pem"
        in result.output
    )


async def test_install_command_time_out_kills_it(supplier, tmp_path) -> None:  # noqa: F811
    order, *_ = await collect(supplier, tmp_path)
    order.install_command = "echo started; sleep 60 & wait"
    result = install_certificate(order, tmp_path, timeout=0.5)
    assert result.timed_out and result.exit_code is None
    assert "started" in result.output and "timed out" in result.output


async def test_unwritable_install_dir_copies_nothing(supplier, tmp_path) -> None:  # noqa: F811
    out, good = tmp_path / "acct", tmp_path / "good"
    out.mkdir()
    good.mkdir()
    order, *_ = await collect(supplier, out)
    (tmp_path / "a-file").write_text("x")
    for bad in (tmp_path / "missing", tmp_path / "a-file"):
        order.pub_web_dirs = [str(good), str(bad)]
        with pytest.raises(OutputError, match=f"Install directory {bad}"):
            install_certificate(order, out)
        assert list(good.iterdir()) == []
        assert not bad.is_dir()  # nothing created


@contextlib.contextmanager
def read_only_dir(path: Path):
    """`path` made unwritable: by its mode, or for root (who ignores modes) immutable."""
    if os.geteuid() != 0:
        path.chmod(0o500)
        yield
        path.chmod(0o700)
        return
    try:
        made = subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0
    except FileNotFoundError:  # no e2fsprogs
        made = False
    if not made:
        pytest.skip("root ignores directory modes, and chattr +i is not to be had here")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


async def test_read_only_install_dir(supplier, tmp_path) -> None:  # noqa: F811
    out, good, locked = tmp_path / "acct", tmp_path / "good", tmp_path / "locked"
    for d in (out, good, locked):
        d.mkdir()
    order, *_ = await collect(supplier, out)
    order.pub_web_dirs = [str(good), str(locked)]
    with read_only_dir(locked), pytest.raises(OutputError, match="not writable"):
        install_certificate(order, out)
    assert list(good.iterdir()) == [] and list(locked.iterdir()) == []


async def test_redistribute_rewrites_final_files(supplier, tmp_path) -> None:  # noqa: F811
    formats = frozenset({F.OutFmtSep, F.OutFmtP12, F.OutFmtPwP12, F.OutFmtPwPem})
    order, key, *_ = await collect(supplier, tmp_path, out_formats=formats, key_password="pw")
    (tmp_path / "www_example_test.pfx").unlink()
    (tmp_path / "www_example_test-inters.pem").unlink()
    written = redistribute(order, tmp_path, OWN)
    assert {p.name for p in written} >= {"www_example_test.pfx", "www_example_test-certonly.pem"}
    k, *_ = pkcs12.load_key_and_certificates(
        (tmp_path / "www_example_test.pfx").read_bytes(), b"pw"
    )
    assert public_key_matches(k, key.public_key())


async def test_redistribute_refuses_an_expired_certificate(supplier, tmp_path) -> None:  # noqa: F811
    key = cached_key(PrivKeyType.PrivKeyECsecp256)
    order = new_order(CN, 1001)
    order.supp_order_id = "1001"
    old = supplier.ca.sign(
        build_csr(order, key), serial=99, validity_days=1, now=datetime.now(UTC) - timedelta(days=3)
    )
    chain = IssuedChain(old.public_bytes(Encoding.PEM), supplier.ca.issuer_pems())
    save_certificate_files(order, tmp_path, OWN, key, None, chain)
    with pytest.raises(OutputError, match="expired on"):
        redistribute(order, tmp_path, OWN)
    with pytest.raises(OutputError, match="no final certificate files"):
        redistribute(new_order("other.example.test"), tmp_path, OWN)
