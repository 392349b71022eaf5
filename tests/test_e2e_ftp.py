"""http-01 by FTP/FTPS upload and tls-alpn-01 by certificate files, end to end through
Pebble, with `certdesk serve` in a second process as the site's public host.

`certdesk serve` listens on Pebble's http-01 (or tls-alpn-01) port and takes the uploads
(or reads the certificate files); the certdesk under test orders in this process, as a
certdesk on another machine would. Names resolve through challtestsrv's DNS (127.0.0.1).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from engine.challenges.tls_alpn import ACME_IDENTIFIER_OID
from engine.events import ChallengePrepared, ChallengeStarted, ChallengeValid, Event, EventBus
from engine.icsdb import AccountDB
from engine.model import ChainResult, ChallengeType, IssueState
from engine.session import AccountSession
from engine.workflow import WorkflowError
from tests.servers.accounts import add_order, certdesk_env
from tests.servers.ftp import make_tls_cert
from tests.servers.pebble import start_pebble

pytestmark = pytest.mark.pebble

S = IssueState
CERTDESK = [sys.executable, "-m", "tui.launch"]
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    """A Pebble whose http-01 and tls-alpn-01 ports are left free for `certdesk serve`."""
    server = start_pebble(
        tmp_path_factory.mktemp("pebble-ftp"), challtestsrv_http=False, challtestsrv_tls=False
    )
    yield server
    server.stop()


@dataclass
class Serve:
    root: Path
    ports: dict[str, int]  # "http", "ftp" / "ftps", "tls-alpn" -> the real port
    user: str
    password: str
    proc: subprocess.Popen

    @property
    def drop(self) -> Path:
        return self.root / ".well-known" / "acme-challenge"

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


def start_serve(root: Path, *args: str, home: Path) -> Serve:
    """`certdesk serve --root ROOT ARGS...`; returns once every listener printed its port."""
    user, password = "acme", secrets.token_urlsafe(12)
    argv = [*CERTDESK, "serve", "--root", str(root), *args]
    if "--ftp" in args:
        argv += ["--ftp-user", user, f"--ftp-password={password}"]  # it may start with "-"
    wanted = sum(args.count(flag) for flag in ("--http", "--ftp", "--tls-alpn"))
    proc = subprocess.Popen(argv, cwd=REPO, env=certdesk_env(home), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    ports: dict[str, int] = {}
    deadline = time.monotonic() + 20
    while len(ports) < wanted and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        found = re.match(r"([\w-]+) listening on 127\.0\.0\.1:(\d+)", line)
        if found:
            ports[found[1]] = int(found[2])
    if len(ports) < wanted:
        proc.kill()
        raise RuntimeError(f"certdesk serve did not start: {proc.stderr.read()}")
    return Serve(root, ports, user, password, proc)


@pytest.fixture
def serve_factory(tmp_path: Path, certdesk_home: Path) -> Iterator:
    started: list[Serve] = []

    def factory(*args: str) -> Serve:
        served = start_serve(tmp_path / f"site-{len(started)}", *args, home=certdesk_home)
        started.append(served)
        return served

    yield factory
    for served in started:
        assert served.stop() == 0  # a clean shutdown on SIGTERM


async def drive(directory: Path, cn: str, *, listener=None, timeout: float = 30) -> None:
    bus = EventBus()
    if listener is not None:
        bus.subscribe(listener)
    async with AccountSession.open(directory, bus=bus, hosting=True) as session:
        workflow = await session.workflow()
        if workflow.get(cn).issue_state in (S.IssStateNone, S.IssStateChecked):
            await workflow.place_order(cn)
        await workflow.complete(cn, timeout=timeout)


def record_of(directory: Path, cn: str):
    with AccountDB.open(directory, writable=False) as db:
        return db.get_order(cn), db.challenges(cn)


def assert_collected(directory: Path, cn: str, names: list[str]) -> None:
    order, challenges = record_of(directory, cn)
    assert order.issue_state == S.IssStateCollect, order.cert_errors
    assert challenges == []
    assert order.chain_result == ChainResult.chainOK, order.cert_errors
    assert sorted(s.domain for s in order.sans) == sorted(names)
    for san in order.sans:
        assert san.issue_state == S.IssStateCollect
        assert san.valid_result.startswith("OK"), (san.domain, san.valid_result)


def ftp_fields(served: Serve, *, tls: bool, password: str | None = None) -> dict:
    kind = "ftps" if tls else "ftp"
    return {
        "challenge_type": ChallengeType.ChallFileFtp,
        "ftp_server": f"127.0.0.1:{served.ports[kind]}",
        "ftp_user": served.user,
        "ftp_password": served.password if password is None else password,
        "ftp_tls": tls,
    }


def serve_ftp_args(ca, tmp_path: Path, *, tls: bool) -> list[str]:
    args = ["--http", f"127.0.0.1:{ca.http_port}", "--ftp", "127.0.0.1:0"]
    if tls:
        args += ["--ftp-tls", "--ftp-cert", str(make_tls_cert(tmp_path))]
    return args


# -- FTP / FTPS upload --------------------------------------------------------------------


@pytest.mark.parametrize("tls", [False, True], ids=["ftp", "ftps"])
def test_ftp_upload_to_certdesk_serve(ca, acme_account, serve_factory, tmp_path, tls):
    served = serve_factory(*serve_ftp_args(ca, tmp_path, tls=tls))
    account = acme_account(ca)
    cn = f"ftp{'s' if tls else ''}.example.test"
    names = [cn, f"www.{cn}"]
    add_order(account, cn, san_names=names, **ftp_fields(served, tls=tls))
    events: list[Event] = []
    on_disk: list[set[str]] = []  # token files at serve's root when each challenge starts

    def listen(event: Event) -> None:
        events.append(event)
        if isinstance(event, ChallengeStarted):
            on_disk.append({p.name for p in served.drop.iterdir()})

    asyncio.run(drive(account, cn, listener=listen))

    assert_collected(account, cn, names)
    prepared = [e for e in events if isinstance(e, ChallengePrepared)]
    scheme = "ftps" if tls else "ftp"
    where = f"by FTP to {scheme}://{served.user}@127.0.0.1:{served.ports[scheme]}"
    assert len(prepared) == 2 and all(where in e.detail for e in prepared)
    tokens = {e.detail.rsplit("/", 1)[-1] for e in prepared}
    assert len(on_disk) == 2 and all(tokens <= files for files in on_disk)  # uploaded
    assert {e.domain for e in events if isinstance(e, ChallengeValid)} == set(names)
    assert list(served.drop.iterdir()) == []  # tokens (and the check's test files) deleted
    assert served.password not in "".join(e.describe() for e in events)


def test_ftps_through_the_command_line(ca, acme_account, serve_factory, tmp_path, certdesk_home):
    served = serve_factory(*serve_ftp_args(ca, tmp_path, tls=True))
    account = acme_account(ca)
    cn = "cli-ftps.example.test"
    env = certdesk_env(certdesk_home)

    def certdesk(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*CERTDESK, *args, "-a", str(account)], capture_output=True,
                              text=True, timeout=60, env=env)  # fmt: skip

    setting = certdesk("domain", "set", cn, "--challenge", "file-ftp",
                       "--ftp-server", f"127.0.0.1:{served.ports['ftps']}",
                       "--ftp-user", served.user, f"--ftp-password={served.password}",
                       "--ftp-tls")  # fmt: skip
    assert setting.returncode == 0, setting.stderr
    ordered = certdesk("order", cn, "--wait")
    assert ordered.returncode == 0, ordered.stdout + ordered.stderr
    assert served.password not in ordered.stdout + ordered.stderr
    assert_collected(account, cn, [cn])
    assert list(served.drop.iterdir()) == []


def test_ftp_login_failure_at_check_is_clear(ca, acme_account, serve_factory, tmp_path):
    served = serve_factory(*serve_ftp_args(ca, tmp_path, tls=False))
    account = acme_account(ca)
    cn = "wrongpw.example.test"
    add_order(account, cn, **ftp_fields(served, tls=False, password="not-the-password"))

    with pytest.raises(WorkflowError) as info:
        asyncio.run(drive(account, cn))
    message = str(info.value)
    assert message.startswith(f"{cn}: test file not reachable: ")
    assert f"ftp://{served.user}@127.0.0.1:{served.ports['ftp']}: login refused: 530" in message
    assert "not-the-password" not in message
    order, challenges = record_of(account, cn)
    assert order.issue_state == S.IssStateNone and challenges == []  # the CA was never asked
    assert "login refused" in order.cert_errors
    assert list(served.drop.iterdir()) == []

    _set_password(account, cn, served.password)  # as `certdesk domain set` would
    asyncio.run(drive(account, cn))
    assert_collected(account, cn, [cn])
    assert list(served.drop.iterdir()) == []


def test_ftp_login_failure_at_check_names_the_san(ca, acme_account, serve_factory, tmp_path):
    served = serve_factory(*serve_ftp_args(ca, tmp_path, tls=False))
    account = acme_account(ca)
    cn = "which.example.test"
    add_order(account, cn, **ftp_fields(served, tls=False, password="wrong"))
    with pytest.raises(WorkflowError) as info:
        asyncio.run(drive(account, cn))
    assert f"test file not reachable: {cn}: " in str(info.value)


def test_ftp_login_failure_after_ordering_names_the_san_and_resumes(
    ca, acme_account, serve_factory, tmp_path
):
    served = serve_factory(*serve_ftp_args(ca, tmp_path, tls=False))
    account = acme_account(ca)
    cn = "changedpw.example.test"
    add_order(account, cn, **ftp_fields(served, tls=False, password="changed-since"))
    with AccountDB.open(account, writable=True) as db:  # checked earlier, then the password changed
        order = db.get_order(cn)
        order.issue_state = S.IssStateChecked
        db.put_order(order)
        db.save()

    with pytest.raises(WorkflowError) as info:
        asyncio.run(drive(account, cn))
    message = str(info.value)
    assert message.startswith(f"{cn}: {cn}: ftp://{served.user}@127.0.0.1:")
    assert "login refused: 530" in message and "changed-since" not in message
    order, challenges = record_of(account, cn)
    assert order.issue_state == S.IssStateChallgReq  # ordered at the CA, resumable
    assert [c.issue_state for c in challenges] == [S.IssStateNone]
    assert challenges[0].valid_result.startswith("Failed: ") and "login refused" in (
        challenges[0].valid_result
    )

    _set_password(account, cn, served.password)
    asyncio.run(drive(account, cn))
    assert_collected(account, cn, [cn])
    assert list(served.drop.iterdir()) == []


def _set_password(directory: Path, cn: str, password: str) -> None:
    with AccountDB.open(directory, writable=True) as db:
        order = db.get_order(cn)
        order.ftp_password = password
        db.put_order(order)
        db.save()


# -- tls-alpn-01 from certificate files (ChallAlpnUNC) ------------------------------------


def _served_certificate(port: int, name: str) -> x509.Certificate:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["acme-tls/1"])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=name) as tls,
    ):
        assert tls.selected_alpn_protocol() == "acme-tls/1"
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def test_alpn_dir_files_presented_by_certdesk_serve(ca, acme_account, serve_factory, tmp_path):
    alpn_dir = tmp_path / "alpn"
    served = serve_factory("--tls-alpn", f"127.0.0.1:{ca.tls_port}", "--alpn-dir", str(alpn_dir))
    account = acme_account(ca)
    cn = "alpn-dir.example.test"
    names = [cn, f"www.{cn}"]
    add_order(account, cn, san_names=names, challenge_type=ChallengeType.ChallAlpnUNC,
              alpn_dir=str(alpn_dir))  # fmt: skip
    seen: dict[str, tuple[x509.Certificate, x509.Certificate, int]] = {}

    def listen(event: Event) -> None:
        if isinstance(event, ChallengeStarted):
            path = alpn_dir / f"acmealpn-{event.domain.replace('.', '_')}.pem"
            written = x509.load_pem_x509_certificate(path.read_bytes())
            served_cert = _served_certificate(served.ports["tls-alpn"], event.domain)
            seen[event.domain] = (written, served_cert, path.stat().st_mode & 0o777)

    asyncio.run(drive(account, cn, listener=listen))

    assert_collected(account, cn, names)
    assert set(seen) == set(names)
    for name, (written, served_cert, mode) in seen.items():
        assert served_cert.public_bytes(Encoding.DER) == written.public_bytes(Encoding.DER)
        assert mode == 0o600  # the file holds the key
        ext = served_cert.extensions.get_extension_for_oid(ACME_IDENTIFIER_OID)
        assert ext.critical and len(ext.value.value) == 34  # OCTET STRING of SHA-256
        sans = served_cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        assert sans.value.get_values_for_type(x509.DNSName) == [name]
    assert list(alpn_dir.iterdir()) == []  # removed after validation
    with contextlib.suppress(OSError):  # nothing to present any more: the handshake fails
        _served_certificate(served.ports["tls-alpn"], cn)
        raise AssertionError("a certificate is still presented after cleanup")
    assert os.path.isdir(alpn_dir)
