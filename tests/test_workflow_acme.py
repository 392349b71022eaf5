"""The order workflow end to end against a real Pebble, with certdesk's own responders.

Pebble validates http-01 against certdesk's built-in HTTP server and tls-alpn-01 against
its built-in TLS server, on the ports Pebble was configured to connect to; names resolve
through challtestsrv's DNS, which answers 127.0.0.1 for every name.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cryptography import x509

from engine.events import ChallengeValid, Event, EventBus, OrderStateChanged
from engine.icsdb import AccountDB
from engine.model import ChainResult, ChallengeType, IssueState
from engine.session import AccountSession
from engine.workflow import WorkflowError
from tests.servers.accounts import add_order, certdesk_env
from tests.servers.pebble import start_pebble

S = IssueState
CERTDESK = [sys.executable, "-m", "tui.launch"]


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    """A Pebble whose http-01 and tls-alpn-01 ports are left free for certdesk."""
    server = start_pebble(
        tmp_path_factory.mktemp("pebble-wf"), challtestsrv_http=False, challtestsrv_tls=False
    )
    yield server
    server.stop()


async def _order(directory: Path, *cns: str, events: list[Event] | None = None) -> None:
    bus = EventBus()
    if events is not None:
        bus.subscribe(events.append)
    async with AccountSession.open(directory, bus=bus, hosting=True) as session:
        workflow = await session.workflow()
        for cn in cns:
            await workflow.place_order(cn)
        await asyncio.gather(*(workflow.complete(cn, timeout=60) for cn in cns))


def _order_record(directory: Path, cn: str):
    with AccountDB.open(directory, writable=False) as db:
        return db.get_order(cn), db.challenges(cn)


def test_file_srv_single_name_goes_through_every_ics_state(ca, acme_account):
    account = acme_account(ca)
    add_order(account, "www.example.test", challenge_type=ChallengeType.ChallFileSrv)
    events: list[Event] = []
    asyncio.run(_order(account, "www.example.test", events=events))

    order, challenges = _order_record(account, "www.example.test")
    assert order.issue_state == S.IssStateCollect
    assert challenges == []  # the queue is emptied on collection
    seen = [e.new for e in events if isinstance(e, OrderStateChanged)]
    assert seen == [
        S.IssStateChecked, S.IssStateChallgReq, S.IssStateChallgWaitTest, S.IssStateChallgTest,
        S.IssStateChallgPend, S.IssStateChallgOK, S.IssStateCollect,
    ]  # fmt: skip
    assert any(isinstance(e, ChallengeValid) for e in events)
    assert order.chain_result == ChainResult.chainOK, order.cert_errors
    cert = x509.load_pem_x509_certificate(Path(order.file_cert).read_bytes())
    assert (
        cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "www.example.test"
    )
    assert order.sans[0].issue_state == S.IssStateCollect
    assert order.sans[0].valid_result.startswith("OK")
    assert order.supp_order_id and order.order_num >= 1001
    assert (account / "www_example_test-bundle.pem").exists()


def test_ten_sans_and_rsa_key(ca, acme_account):
    account = acme_account(ca)
    names = [f"n{i}.example.test" for i in range(10)]
    from engine.model import PrivKeyType

    add_order(account, names[0], san_names=names, challenge_type=ChallengeType.ChallFileSrv,
              key_type=PrivKeyType.PrivKeyRsa2048)  # fmt: skip
    asyncio.run(_order(account, names[0]))
    order, _ = _order_record(account, names[0])
    assert order.issue_state == S.IssStateCollect, order.cert_errors
    cert = x509.load_pem_x509_certificate(Path(order.file_cert).read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(sans.get_values_for_type(x509.DNSName)) == sorted(names)
    assert all(s.issue_state == S.IssStateCollect for s in order.sans)


def test_tls_alpn_builtin_server(ca, acme_account):
    account = acme_account(ca)
    add_order(account, "alpn.example.test", challenge_type=ChallengeType.ChallAlpnSrv)
    asyncio.run(_order(account, "alpn.example.test"))
    order, _ = _order_record(account, "alpn.example.test")
    assert order.issue_state == S.IssStateCollect, order.cert_errors


def test_failed_self_test_stops_before_the_ca_and_stays_resumable(ca, acme_account, tmp_path):
    # A web root that no HTTP server serves: the self-test must fail, the CA never asked.
    account = acme_account(ca, validation_http_port=1)  # nothing listens on port 1
    webroot = tmp_path / "www" / ".well-known"
    webroot.mkdir(parents=True)
    add_order(account, "nowhere.example.test", challenge_type=ChallengeType.ChallFileUNC,
              well_known_dir=str(webroot) + "/")  # fmt: skip

    async def run() -> str:
        async with AccountSession.open(account, hosting=True) as session:
            workflow = await session.workflow()
            with pytest.raises(WorkflowError) as info:
                await workflow.place_order("nowhere.example.test")
                await workflow.complete("nowhere.example.test", timeout=30)
            return str(info.value)

    message = asyncio.run(run())
    # The check step's test file is refused first, naming the URL it fetched.
    assert message.startswith("nowhere.example.test: test file not reachable")
    assert "http://nowhere.example.test:1/.well-known/" in message
    order, challenges = _order_record(account, "nowhere.example.test")
    assert order.issue_state == S.IssStateNone  # Checked was never reached
    assert "not reachable" in order.cert_errors
    assert challenges == []  # the CA was never asked for an order
    assert order.supp_order_id == ""


def test_cancel_deactivates_and_revoke_reaches_pebble(ca, acme_account):
    account = acme_account(ca)
    add_order(account, "keep.example.test", challenge_type=ChallengeType.ChallFileSrv)
    add_order(account, "drop.example.test", challenge_type=ChallengeType.ChallFileSrv)
    asyncio.run(_order(account, "keep.example.test"))

    async def act() -> None:
        async with AccountSession.open(account, hosting=False) as session:
            workflow = await session.workflow()
            await workflow.place_order("drop.example.test")  # stops: no host for file-srv
            await workflow.cancel("drop.example.test")
            await workflow.revoke("keep.example.test", reason=4)

    asyncio.run(act())
    dropped, challenges = _order_record(account, "drop.example.test")
    assert dropped.issue_state == S.IssStateCancel and challenges == []
    kept, _ = _order_record(account, "keep.example.test")
    assert kept.issue_state == S.IssStateCancel
    cert = x509.load_pem_x509_certificate(Path(kept.file_cert).read_bytes())
    status = ca.cert_status(cert.serial_number)
    assert status is not None and status["Status"] == "Revoked"


def test_without_a_host_an_in_process_responder_is_never_started(ca, acme_account):
    account = acme_account(ca)
    add_order(account, "later.example.test", challenge_type=ChallengeType.ChallFileSrv)

    async def order_without_wait():
        async with AccountSession.open(account, hosting=False) as session:
            workflow = await session.workflow()
            await workflow.place_order("later.example.test")
            return await workflow.complete("later.example.test", timeout=0)

    outcome = asyncio.run(order_without_wait())
    assert outcome.needs_host and "certdesk run" in outcome.waiting
    order, challenges = _order_record(account, "later.example.test")
    assert order.issue_state == S.IssStateChallgReq
    assert [c.issue_state for c in challenges] == [S.IssStateChallgReq]

    # `certdesk run --once` hosts the server and finishes it.
    result = subprocess.run([*CERTDESK, "run", "--once", "-a", str(account)],
                            capture_output=True, text=True, timeout=120, env=certdesk_env(account.parent))  # fmt: skip
    assert result.returncode == 0, result.stderr
    order, _ = _order_record(account, "later.example.test")
    assert order.issue_state == S.IssStateCollect


def test_cli_end_to_end(ca, tmp_path, certdesk_home):
    env = certdesk_env(certdesk_home)
    account = tmp_path / "cli-acme"

    def certdesk(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [*CERTDESK, *args], capture_output=True, text=True, timeout=120, env=env
        )
        if check:
            assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
        return result

    certdesk("account", "create", "--supplier", "acme", "--server", ca.directory_url,
             "--ca-bundle", str(ca.ca_bundle), "--email", "ops@example.com", "-a", str(account))  # fmt: skip
    shown = json.loads(certdesk("account", "show", "--json", "-a", str(account)).stdout)
    assert shown["acme_account_url"].startswith("https://127.0.0.1:")
    assert (account / "AcmePrivateKey.pem").stat().st_mode & 0o777 == 0o600
    with AccountDB.open(account, writable=True) as db:
        db.account.resolver = f"127.0.0.1:{ca.dns_port}"
        db.account.validation_http_port = ca.http_port
        db.put_account(db.account)
        db.save()
    certdesk("domain", "set", "cli.example.test", "--san", "www.cli.example.test",
             "--challenge", "file-srv", "--http-listen", f"127.0.0.1:{ca.http_port}",
             "--formats", "bundle,p12", "-a", str(account))  # fmt: skip
    certdesk("order", "cli.example.test", "--wait", "-a", str(account))
    rows = json.loads(certdesk("list", "--json", "-a", str(account)).stdout)
    assert [(r["common_name"], r["issue_state"]) for r in rows] == [
        ("cli.example.test", "IssStateCollect")
    ]
    # Ordering again within a day is refused with a clear message and exit code 1.
    again = certdesk("order", "cli.example.test", "-a", str(account), check=False)
    assert (
        again.returncode == 1
        and "less than a day ago" in again.stderr
        and "--force" in again.stderr
    )
    assert "Traceback" not in again.stderr


RESUME_SCRIPT = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from engine.events import EventBus, OrderStateChanged
    from engine.model import IssueState
    from engine.session import AccountSession

    directory, cn, kill_at = sys.argv[1], sys.argv[2], IssueState[sys.argv[3]]

    def on_event(event):
        # Published right after the new state was saved: die exactly there.
        if isinstance(event, OrderStateChanged) and event.new == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    async def main():
        bus = EventBus()
        bus.subscribe(on_event)
        async with AccountSession.open(directory, bus=bus, hosting=True) as session:
            workflow = await session.workflow()
            await workflow.place_order(cn)
            await workflow.complete(cn, timeout=60)

    asyncio.run(main())
    """
)


@pytest.fixture
def webroot(ca, tmp_path):
    """A plain HTTP server on Pebble's http-01 port, serving a web root: the site's own
    web server, which outlives any certdesk process."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    root = tmp_path / "site"
    (root / ".well-known").mkdir(parents=True)
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = ThreadingHTTPServer(("127.0.0.1", ca.http_port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root / ".well-known"
    server.shutdown()
    server.server_close()


def _kill_and_resume(account: Path, cn: str, kill_at: str, home: Path) -> None:
    env = certdesk_env(home)
    child = subprocess.run([sys.executable, "-c", RESUME_SCRIPT, str(account), cn, kill_at],
                           capture_output=True, text=True, timeout=120, env=env)  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr
    order, _ = _order_record(account, cn)
    assert order.issue_state == S[kill_at]

    result = subprocess.run([*CERTDESK, "run", "--once", "-a", str(account)],
                            capture_output=True, text=True, timeout=120, env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    order, challenges = _order_record(account, cn)
    assert order.issue_state == S.IssStateCollect, result.stderr
    assert challenges == []
    assert order.chain_result == ChainResult.chainOK
    bundle = Path(order.file_bundle).read_bytes()
    assert bundle.count(b"BEGIN CERTIFICATE") >= 2 and b"PRIVATE KEY" in bundle
    leaf = x509.load_pem_x509_certificate(Path(order.file_cert).read_bytes())
    from engine.crypto.keys import load_key

    key = load_key(Path(order.file_key).read_bytes())
    assert key.public_key().public_numbers() == leaf.public_key().public_numbers()


ALL_STEPS = ["IssStateChecked", "IssStateChallgReq", "IssStateChallgWaitTest",
             "IssStateChallgTest", "IssStateChallgPend", "IssStateChallgOK"]  # fmt: skip


@pytest.mark.parametrize("kill_at", ALL_STEPS)
def test_resume_after_sigkill_at_each_step(ca, acme_account, webroot, kill_at, certdesk_home):
    account = acme_account(ca)
    cn = f"resume-{kill_at.lower()}.example.test"
    add_order(account, cn, challenge_type=ChallengeType.ChallFileUNC,
              well_known_dir=str(webroot) + "/")  # fmt: skip
    _kill_and_resume(account, cn, kill_at, certdesk_home)
    assert list((webroot / "acme-challenge").iterdir()) == []  # token files removed


@pytest.mark.parametrize("kill_at", ["IssStateChallgReq", "IssStateChallgWaitTest"])
def test_resume_puts_builtin_server_tokens_back(ca, acme_account, kill_at, certdesk_home):
    """Before the CA is asked, a killed built-in server loses nothing: the next process
    registers the tokens again and carries on."""
    account = acme_account(ca)
    cn = f"builtin-{kill_at.lower()}.example.test"
    add_order(account, cn, challenge_type=ChallengeType.ChallFileSrv)
    _kill_and_resume(account, cn, kill_at, certdesk_home)


def test_twenty_orders_in_one_run(ca, acme_account, certdesk_home):
    account = acme_account(ca)
    cns = [f"bulk{i:02d}.example.test" for i in range(20)]
    for cn in cns:
        add_order(account, cn, challenge_type=ChallengeType.ChallFileSrv)
    with AccountDB.open(account, writable=True) as db:  # queue them as `certdesk check` would
        for cn in cns:
            order = db.get_order(cn)
            order.issue_state = S.IssStateChecked
            db.put_order(order)
        db.save()
    result = subprocess.run([*CERTDESK, "run", "--once", "-a", str(account)],
                            capture_output=True, text=True, timeout=300, env=certdesk_env(certdesk_home))  # fmt: skip
    assert result.returncode == 0, result.stderr
    with AccountDB.open(account, writable=False) as db:
        states = {o.common_name: o.issue_state for o in db.orders()}
    assert states == dict.fromkeys(cns, S.IssStateCollect)
    assert os.path.exists(account / "bulk19_example_test-certonly.pem")


FINALIZE_THEN_DIE = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from engine.session import AccountSession

    directory, cn = sys.argv[1], sys.argv[2]

    async def main():
        async with AccountSession.open(directory, hosting=True) as session:
            workflow = await session.workflow()
            await workflow.place_order(cn)
            while workflow.get(cn).issue_state.name != "IssStateChallgOK":
                await workflow.step(cn)
            order = workflow.get(cn)
            key, csr_der = await workflow._key_and_csr(order)  # saved under order names
            await workflow.supplier.finalize(order, csr_der)  # the CA issues ...
            os.kill(os.getpid(), signal.SIGKILL)  # ... and we die before saving any file

    asyncio.run(main())
    """
)


def test_resume_after_the_ca_issued_but_before_files_were_saved(ca, acme_account, certdesk_home):
    account = acme_account(ca)
    cn = "issued-then-killed.example.test"
    add_order(account, cn, challenge_type=ChallengeType.ChallFileSrv)
    env = certdesk_env(certdesk_home)
    child = subprocess.run([sys.executable, "-c", FINALIZE_THEN_DIE, str(account), cn],
                           capture_output=True, text=True, timeout=120, env=env)  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr
    result = subprocess.run([*CERTDESK, "run", "--once", "-a", str(account)],
                            capture_output=True, text=True, timeout=120, env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    order, _ = _order_record(account, cn)
    assert order.issue_state == S.IssStateCollect
    assert order.chain_result == ChainResult.chainOK  # the leaf matches the key that was kept


def test_reused_authorizations_go_straight_to_collection(pebble_factory, acme_account):
    ca = pebble_factory(
        env={"PEBBLE_AUTHZREUSE": "100"}, challtestsrv_http=False, challtestsrv_tls=False
    )
    account = acme_account(ca)
    add_order(account, "reuse.example.test", challenge_type=ChallengeType.ChallFileSrv)
    asyncio.run(_order(account, "reuse.example.test"))

    async def order_again() -> list[Event]:
        events: list[Event] = []
        bus = EventBus()
        bus.subscribe(events.append)
        # No host this time: a reused authorization needs no responder at all.
        async with AccountSession.open(account, bus=bus, hosting=False) as session:
            workflow = await session.workflow()
            await workflow.place_order("reuse.example.test", force=True)
            outcome = await workflow.complete("reuse.example.test", timeout=30)
            assert not outcome.needs_host
        return events

    events = asyncio.run(order_again())
    order, _ = _order_record(account, "reuse.example.test")
    assert order.issue_state == S.IssStateCollect, order.cert_errors
    assert order.order_attempts == 2
    assert order.sans[0].valid_result == "OK, authorization already valid (reused)"
    states = [e.new for e in events if isinstance(e, OrderStateChanged)]
    assert S.IssStateChallgPend not in states  # nothing was validated again


def test_an_order_expired_at_the_ca_fails_clearly(ca, acme_account, certdesk_home):
    account = acme_account(ca)
    cn = "expired.example.test"
    add_order(account, cn, challenge_type=ChallengeType.ChallFileSrv)

    async def order_without_host():
        async with AccountSession.open(account, hosting=False) as session:
            workflow = await session.workflow()
            await workflow.place_order(cn)

    asyncio.run(order_without_host())
    from datetime import datetime, timedelta

    with AccountDB.open(account, writable=True) as db:  # a week later...
        order = db.get_order(cn)
        assert order.challenges_expire is not None and order.challenges_expire.tzinfo is None
        order.challenges_expire = datetime.now() - timedelta(minutes=1)
        db.put_order(order)
        db.save()
    result = subprocess.run([*CERTDESK, "run", "--once", "-a", str(account)],
                            capture_output=True, text=True, timeout=60, env=certdesk_env(certdesk_home))  # fmt: skip
    assert result.returncode == 1
    assert "expired at the CA" in result.stderr and "order again" in result.stderr
    order, challenges = _order_record(account, cn)
    assert order.issue_state == S.IssStateNone and challenges == []


def test_failed_registration_leaves_nothing_and_can_be_retried(
    pebble_factory, tmp_path, certdesk_home
):
    import base64

    hmac_key = base64.urlsafe_b64encode(b"k" * 32).rstrip(b"=").decode()
    ca = pebble_factory(eab_keys={"kid-1": hmac_key})
    env = certdesk_env(certdesk_home)
    account = tmp_path / "eab"
    account.mkdir()
    (account / "notes.txt").write_text("mine")  # a file the user had there before

    def create(hmac: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*CERTDESK, "account", "create", "--supplier", "acme", "--server", ca.directory_url,
             "--ca-bundle", str(ca.ca_bundle), "--eab-kid", "kid-1", "--eab-hmac", hmac, "-a", str(account)],
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip

    wrong = create(base64.urlsafe_b64encode(b"x" * 32).rstrip(b"=").decode())
    assert wrong.returncode == 1 and "no account was created" in wrong.stderr
    assert "Traceback" not in wrong.stderr
    assert sorted(p.name for p in account.iterdir()) == ["notes.txt"]  # only what was there
    right = create(hmac_key)
    assert right.returncode == 0, right.stderr
    with AccountDB.open(account, writable=False) as db:
        assert db.account.acme_account_url


def test_revoke_with_the_certificate_key_through_the_cli(ca, acme_account, certdesk_home):
    account = acme_account(ca)
    add_order(account, "bykey.example.test", challenge_type=ChallengeType.ChallFileSrv)
    asyncio.run(_order(account, "bykey.example.test"))
    result = subprocess.run(
        [*CERTDESK, "revoke", "bykey.example.test", "--with-certificate-key", "--reason", "key-compromise",
         "-a", str(account)],
        capture_output=True, text=True, timeout=60, env=certdesk_env(certdesk_home),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    order, _ = _order_record(account, "bykey.example.test")
    assert order.issue_state == S.IssStateCancel and order.revoke_reason == 1
    serial = x509.load_pem_x509_certificate(Path(order.file_cert).read_bytes()).serial_number
    assert ca.cert_status(serial)["Status"] == "Revoked"
