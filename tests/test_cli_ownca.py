"""Own CA through the command line: CAs made by certdesk and by openssl, CSRs from files."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from engine.crypto.keys import CryptoError, load_key
from engine.icsdb import AccountDB
from engine.model import IssueState
from tests.test_cli import ca_dir, certdesk  # noqa: F401 - fixtures

S = IssueState


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _order(directory: Path, cn: str):
    with AccountDB.open(directory, writable=False) as db:
        return db.get_order(cn)


def test_ca_create_with_password_key_type_and_validity(tmp_path, certdesk):  # noqa: F811
    directory = tmp_path / "ca"
    certdesk("ca", "create", "--title", "Pw CA", "--root-name", "CN=Pw Root,O=Example",
             "--key-type", "rsa2048", "--validity", "400", "--password", "s3cret",
             "-a", str(directory))  # fmt: skip
    key_pem = (directory / "ownca-ca-key.pem").read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in key_pem
    with pytest.raises(CryptoError):
        load_key(key_pem, None)
    assert load_key(key_pem, "s3cret").key_size == 2048
    root = x509.load_pem_x509_certificate((directory / "ownca-root.pem").read_bytes())
    name = {a.oid._name: a.value for a in root.subject}
    assert name == {"commonName": "Pw Root", "organizationName": "Example"}
    assert 399 <= (root.not_valid_after_utc - root.not_valid_before_utc).days <= 400
    certdesk("domain", "set", "pw.example.com", "--serial", "sequential", "-a", str(directory))
    certdesk("order", "pw.example.com", "-a", str(directory))
    order = _order(directory, "pw.example.com")
    leaf = x509.load_pem_x509_certificate(Path(order.file_cert).read_bytes())
    assert leaf.serial_number == order.order_num == 1001  # sequential serials are order numbers


def test_ca_load_an_openssl_ca_and_order_from_an_existing_csr(tmp_path, certdesk):  # noqa: F811
    work = tmp_path / "openssl"
    work.mkdir()
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "30", "-subj", "/CN=OpenSSL Lab CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            cwd=work)  # fmt: skip
    openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "web.key", "-out", "web.csr",
            "-subj", "/CN=legacy.example.com", "-addext", "subjectAltName=DNS:legacy.example.com,DNS:old.example.com",
            cwd=work)  # fmt: skip
    directory = tmp_path / "loaded"
    certdesk(
        "ca",
        "load",
        "--cert",
        str(work / "ca.pem"),
        "--key",
        str(work / "ca.key"),
        "-a",
        str(directory),
    )
    certdesk("domain", "set", "legacy.example.com", "--csr", str(work / "web.csr"),
             "--key", str(work / "web.key"), "-a", str(directory))  # fmt: skip
    certdesk("order", "legacy.example.com", "-a", str(directory))
    order = _order(directory, "legacy.example.com")
    assert order.issue_state == S.IssStateCollect and order.chain_result.name == "chainOK"
    assert order.san_names == ["legacy.example.com", "old.example.com"]  # read from the CSR
    verify = subprocess.run(["openssl", "verify", "-CAfile", str(work / "ca.pem"), order.file_cert],
                            capture_output=True, text=True)  # fmt: skip
    assert verify.returncode == 0, verify.stderr
    leaf = x509.load_pem_x509_certificate(Path(order.file_cert).read_bytes())
    csr = x509.load_pem_x509_csr((work / "web.csr").read_bytes())
    assert leaf.public_key().public_numbers() == csr.public_key().public_numbers()


def test_a_csr_whose_key_does_not_match_is_refused(tmp_path, certdesk, ca_dir):  # noqa: F811
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "a.key", "-out", "a.csr", "-subj", "/CN=mismatch.example.com", cwd=tmp_path)  # fmt: skip
    openssl(
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        "b.key",
        cwd=tmp_path,
    )
    certdesk("domain", "set", "mismatch.example.com", "--csr", str(tmp_path / "a.csr"),
             "--key", str(tmp_path / "b.key"), "-a", str(ca_dir))  # fmt: skip
    before = sorted(p.name for p in ca_dir.iterdir())
    refused = certdesk("order", "mismatch.example.com", "-a", str(ca_dir), expect=1)
    assert "does not match" in refused.stderr
    assert _order(ca_dir, "mismatch.example.com").issue_state == S.IssStateNone
    assert sorted(p.name for p in ca_dir.iterdir() if p.name != "certdesk.log") == [
        n for n in before if n != "certdesk.log"
    ]


def test_a_failed_install_keeps_the_certificate_and_says_where(tmp_path, certdesk, ca_dir):  # noqa: F811
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    good = tmp_path / "good"
    good.mkdir()
    certdesk("domain", "set", "inst.example.com", "--pub-dir", str(good), "--pub-dir", str(not_a_dir),
             "-a", str(ca_dir))  # fmt: skip
    failed = certdesk("order", "inst.example.com", "-a", str(ca_dir), expect=1)
    assert "install failed" in failed.stderr and str(not_a_dir) in failed.stderr
    order = _order(ca_dir, "inst.example.com")
    assert order.issue_state == S.IssStateCollect  # collected, not installed
    assert list(good.iterdir()) == []  # nothing half-copied
    # Fixed, then installed by hand:
    not_a_dir.unlink()
    not_a_dir.mkdir()
    certdesk("install", "inst.example.com", "-a", str(ca_dir))
    assert _order(ca_dir, "inst.example.com").issue_state == S.IssStateInstall
    assert (good / "inst_example_com-bundle.pem").exists()
    shown = json.loads(
        certdesk("domain", "show", "inst.example.com", "--json", "-a", str(ca_dir)).stdout
    )
    assert shown["issue_state"] == "IssStateInstall"


def test_redist_copies_the_current_files_again(tmp_path, certdesk, ca_dir):  # noqa: F811
    pub = tmp_path / "pub"
    pub.mkdir()
    certdesk("domain", "set", "redist.example.com", "--pub-dir", str(pub), "-a", str(ca_dir))
    certdesk("order", "redist.example.com", "-a", str(ca_dir))
    copied = pub / "redist_example_com-bundle.pem"
    original = copied.read_bytes()
    copied.unlink()
    certdesk("redist", "redist.example.com", "-a", str(ca_dir))
    assert copied.read_bytes() == original
