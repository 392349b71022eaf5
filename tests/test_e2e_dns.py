"""dns-01 end to end: certdesk writes TXT records into a real BIND, Pebble resolves through
that same BIND (`-dnsserver`), so the CA really looks up what the tool wrote.

Between Pebble and BIND sits a second, recursive BIND forwarding both test zones to the
first, as a CA's resolver sits between it and a site's name servers: the authoritative
server alone answers a CNAME into another zone with the CNAME only, and Pebble (Go's stub
resolver) does not chase it. Propagation is checked against `bind.address`
(`dns_check_servers`): the zones' NS records point at port 53, where nothing listens.
"""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from engine.events import (
    ChallengePrepared,
    ChallengeStarted,
    DnsPropagation,
    Event,
    EventBus,
    WaitingForPerson,
)
from engine.icsdb import AccountDB
from engine.model import ChainResult, ChallengeType, IssueState
from engine.session import AccountSession
from engine.workflow import WorkflowError
from tests.servers.accounts import add_order, certdesk_env
from tests.servers.bind import NAMED, BindServer, _free_udp_tcp_port, _ready
from tests.servers.pebble import _child_setup, _kill, start_pebble

pytestmark = [pytest.mark.bind, pytest.mark.pebble]

S = IssueState
CERTDESK = [sys.executable, "-m", "tui.launch"]


def start_resolver(workdir: Path, upstream: BindServer) -> tuple[str, subprocess.Popen]:
    """A recursive BIND on a free port that forwards the test zones to `upstream` and
    caches nothing for long; returns (HOST:PORT, process)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = _free_udp_tcp_port()
    forward = "".join(
        f'zone "{zone}" {{ type forward; forward only; '
        f"forwarders {{ {upstream.host} port {upstream.port}; }}; }};\n"
        for zone in upstream.zones
    )
    conf = workdir / "named.conf"
    conf.write_text(
        "options {\n"
        f'    directory "{workdir}";\n'
        f'    pid-file "{workdir / "named.pid"}";\n'
        f'    session-keyfile "{workdir / "session.key"}";\n'
        f'    managed-keys-directory "{workdir}";\n'
        f"    listen-on port {port} {{ 127.0.0.1; }};\n"
        "    listen-on-v6 { none; };\n"
        "    recursion yes;\n"
        "    allow-recursion { 127.0.0.1; };\n"
        "    dnssec-validation no;\n"
        "    max-cache-ttl 1;\n"
        "    max-ncache-ttl 1;\n"
        "};\n"
        "controls { };\n"
        f"{forward}"
    )
    with open(workdir / "named.log", "ab") as log:
        proc = subprocess.Popen(
            [NAMED, "-g", "-n", "1", "-c", str(conf)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_child_setup,
        )  # fmt: skip
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and proc.poll() is None:
        if _ready("127.0.0.1", port):  # an SOA of certdesk.test., fetched through upstream
            return f"127.0.0.1:{port}", proc
        time.sleep(0.05)
    _kill(proc)
    raise RuntimeError(f"the resolver BIND did not start:\n{(workdir / 'named.log').read_text()}")


@pytest.fixture(scope="module")
def resolver(bind, tmp_path_factory) -> Iterator[str]:
    address, proc = start_resolver(tmp_path_factory.mktemp("resolver") / "named", bind)
    yield address
    _kill(proc)


@pytest.fixture(scope="module")
def ca(resolver, tmp_path_factory):
    """A Pebble that resolves every name through the recursive BIND."""
    server = start_pebble(tmp_path_factory.mktemp("pebble-dns"), dns_server=resolver)
    yield server
    server.stop()


def dns_auto(bind, **overrides) -> dict:
    """Order fields for `--challenge dns-auto` against the test BIND."""
    return {
        "challenge_type": ChallengeType.ChallDnsAuto,
        "dns_server": bind.address,
        "tsig_name": bind.tsig_name,
        "tsig_secret": bind.tsig_secret,
        "tsig_algorithm": bind.tsig_algorithm,
        "dns_check_servers": [bind.address],
        "dns_timeout": 10,
        **overrides,
    }


async def drive(directory: Path, cn: str, *, events: list[Event] | None = None,
                listener=None, timeout: float = 30) -> None:  # fmt: skip
    """Order `cn` (or resume it) in this process and drive it to the end."""
    bus = EventBus()
    if events is not None:
        bus.subscribe(events.append)
    if listener is not None:
        bus.subscribe(listener)
    async with AccountSession.open(directory, bus=bus, hosting=True) as session:
        workflow = await session.workflow()
        if workflow.get(cn).issue_state not in (S.IssStateChallgReq, S.IssStateChallgPend):
            await workflow.place_order(cn)
        await workflow.complete(cn, timeout=timeout)


def record_of(directory: Path, cn: str):
    with AccountDB.open(directory, writable=False) as db:
        return db.get_order(cn), db.challenges(cn)


def assert_collected(directory: Path, cn: str, names: list[str]) -> None:
    order, challenges = record_of(directory, cn)
    assert order.issue_state == S.IssStateCollect, order.cert_errors
    assert challenges == []  # the queue is emptied on collection
    assert order.chain_result == ChainResult.chainOK, order.cert_errors
    assert {s.domain for s in order.sans} == set(names)
    for san in order.sans:
        assert san.issue_state == S.IssStateCollect
        assert san.valid_result.startswith("OK"), (san.domain, san.valid_result)
    cert = x509.load_pem_x509_certificate(Path(order.file_cert).read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(sans.get_values_for_type(x509.DNSName)) == sorted(names)


# -- RFC 2136 -----------------------------------------------------------------------------


def test_dns_auto_single_name_through_the_command_line(ca, bind, acme_account, certdesk_home):
    account = acme_account(ca)
    cn = bind.unique("cli")
    record = f"_acme-challenge.{cn}"
    env = certdesk_env(certdesk_home)
    setting = subprocess.run(
        [*CERTDESK, "domain", "set", cn, "--challenge", "dns-auto",
         "--dns-server", bind.address, "--tsig-name", bind.tsig_name,
         "--tsig-secret", bind.tsig_secret, "--tsig-algorithm", "hmac-sha256",
         "--dns-check-server", bind.address, "--dns-timeout", "10", "-a", str(account)],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert setting.returncode == 0, setting.stderr
    assert bind.tsig_secret not in setting.stdout + setting.stderr

    ordered = subprocess.run([*CERTDESK, "order", cn, "--wait", "-a", str(account)],
                             capture_output=True, text=True, timeout=60, env=env)  # fmt: skip
    assert ordered.returncode == 0, ordered.stdout + ordered.stderr
    assert bind.tsig_secret not in ordered.stdout + ordered.stderr
    assert_collected(account, cn, [cn])
    assert bind.query(record) == []  # removed after validation


def test_dns_auto_wildcard_and_apex_in_one_order(ca, bind, acme_account):
    account = acme_account(ca)
    cn = bind.unique("shop")
    add_order(account, cn, san_names=[cn, f"*.{cn}"], **dns_auto(bind))
    record = f"_acme-challenge.{cn}"
    events: list[Event] = []
    at_start: list[list[str]] = []  # what BIND holds when each challenge is started

    def listen(event: Event) -> None:
        events.append(event)
        if isinstance(event, ChallengeStarted):
            at_start.append(bind.query(record))

    asyncio.run(drive(account, cn, listener=listen))

    assert_collected(account, cn, [cn, f"*.{cn}"])
    # Both values went to the one name, added, not replaced, while the CA looked.
    assert len(at_start) == 2 and all(len(set(values)) == 2 for values in at_start)
    prepared = [e for e in events if isinstance(e, ChallengePrepared)]
    assert sorted(e.domain for e in prepared) == sorted([cn, f"*.{cn}"])
    assert all(f"TXT {record} " in e.detail for e in prepared)
    assert bind.tsig_secret not in "".join(e.detail for e in prepared)
    assert bind.query(record) == []


def test_dns_auto_follows_a_cname_into_the_delegated_zone(ca, bind, acme_account):
    account = acme_account(ca)
    cn = f"alias.{bind.zone}"
    target = f"alias-target.{bind.delegated_zone}"
    add_order(account, cn, **dns_auto(bind))
    events: list[Event] = []
    asyncio.run(drive(account, cn, events=events))

    assert_collected(account, cn, [cn])
    prepared = next(e for e in events if isinstance(e, ChallengePrepared))
    assert f"TXT {target} " in prepared.detail
    assert f"in zone {bind.delegated_zone}" in prepared.detail
    progress = [e for e in events if isinstance(e, DnsPropagation)]
    assert progress and {e.record for e in progress} == {target}
    assert bind.query(target) == []  # the update landed in, and left, delegated.test
    assert bind.query(f"_acme-challenge.{cn}", "CNAME") == [f"{target}."]


def test_dns_auto_wrong_tsig_secret_is_clear_and_resumable(ca, bind, acme_account):
    account = acme_account(ca)
    cn = bind.unique("badkey")
    record = f"_acme-challenge.{cn}"
    wrong = base64.b64encode(secrets.token_bytes(32)).decode()
    add_order(account, cn, **dns_auto(bind, tsig_secret=wrong))

    with pytest.raises(WorkflowError) as info:
        asyncio.run(drive(account, cn))
    message = str(info.value)
    assert message.startswith(f"{cn}: {cn}: update of {record} TXT")
    assert "wrong TSIG secret" in message and bind.tsig_name in message
    assert wrong not in message
    order, challenges = record_of(account, cn)
    assert order.issue_state == S.IssStateChallgReq  # resumable
    assert "wrong TSIG secret" in order.cert_errors
    assert [c.issue_state for c in challenges] == [S.IssStateNone]  # never put in place
    assert bind.query(record) == []

    # The key is put right (as `certdesk domain set --tsig-secret` would) and it resumes.
    with AccountDB.open(account, writable=True) as db:
        fixed = db.get_order(cn)
        fixed.tsig_secret = bind.tsig_secret
        db.put_order(fixed)
        db.save()
    asyncio.run(drive(account, cn))
    assert_collected(account, cn, [cn])
    assert bind.query(record) == []


# -- by hand: the test plays the person -------------------------------------------------

RECORD_LINE = re.compile(r'(_acme-challenge\.\S+)\. 60 IN TXT "([A-Za-z0-9_-]{43})"')


async def wait_for(events: list[Event], kind: type, test=lambda e: True, timeout: float = 15):
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        found = [e for e in events if isinstance(e, kind) and test(e)]
        if found:
            return found[0]
        await asyncio.sleep(0.02)
    raise AssertionError(f"no {kind.__name__} event in {timeout} s: {events}")


def pictures(events: list[Event]) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    return [(e.ready, e.waiting) for e in events if isinstance(e, DnsPropagation)]


def dns_manual(servers: list[str]) -> dict:
    return {
        "challenge_type": ChallengeType.ChallDnsMan,
        "dns_check_servers": servers,
        "dns_timeout": 15,
    }


async def the_person_adds_it(events: list[Event], *binds: BindServer) -> tuple[str, str]:
    """Read the record from the event the tool shows, then create it on each server in
    turn, each only once the tool has seen the one before."""
    shown = await wait_for(events, WaitingForPerson, lambda e: "create the TXT" in e.what)
    found = RECORD_LINE.search(shown.what)
    assert found, shown.what
    record, value = found[1], found[2]
    for count, server in enumerate(binds):
        await wait_for(events, DnsPropagation, lambda e, n=count: len(e.ready) == n)
        await asyncio.sleep(0.3)  # a person is never instant
        await asyncio.to_thread(server.add_txt, record, value)
    return record, value


def test_dns_manual_the_person_adds_the_record(ca, bind, resolver, acme_account):
    account = acme_account(ca, resolver=resolver)
    cn = bind.unique("byhand")
    add_order(account, cn, **dns_manual([bind.address]))
    events: list[Event] = []

    async def scenario() -> tuple[str, str]:
        order = asyncio.create_task(drive(account, cn, events=events))
        record, value = await the_person_adds_it(events, bind)
        await order
        return record, value

    record, value = asyncio.run(scenario())
    assert record == f"_acme-challenge.{cn}"
    prepared = next(e for e in events if isinstance(e, ChallengePrepared))
    assert f'{record}. 60 IN TXT "{value}"' in prepared.detail
    assert pictures(events) == [((), (bind.address,)), ((bind.address,), ())]
    assert_collected(account, cn, [cn])
    # The person created the record, so the person removes it: the tool says so.
    assert any(f'{record} "{value}" may now be removed' in e.describe() for e in events)
    assert bind.query(record) == [value]
    bind.update(record, "TXT", f'"{value}"', delete=True)


def test_dns_manual_progress_server_by_server(ca, bind, bind_factory, resolver, acme_account):
    second = bind_factory()
    account = acme_account(ca, resolver=resolver)
    cn = bind.unique("twons")
    add_order(account, cn, **dns_manual([bind.address, second.address]))
    events: list[Event] = []

    async def scenario() -> tuple[str, str]:
        order = asyncio.create_task(drive(account, cn, events=events))
        found = await the_person_adds_it(events, bind, second)
        await order
        return found

    record, value = asyncio.run(scenario())
    both = (bind.address, second.address)
    assert pictures(events) == [((), both), ((bind.address,), (second.address,)), (both, ())]
    progress = [e.describe() for e in events if isinstance(e, DnsPropagation)]
    assert progress[1].startswith(
        f"{record}: 1/2 name servers answer (waiting for {second.address}"
    )
    assert progress[2] == f"{record}: 2/2 name servers answer"
    assert_collected(account, cn, [cn])
    assert bind.query(record) == second.query(record) == [value]
    bind.update(record, "TXT", f'"{value}"', delete=True)


def test_dns_auto_name_in_no_zone_is_clear_and_cancel_removes_what_was_added(
    ca, bind, acme_account
):
    account = acme_account(ca)
    cn = bind.unique("part")
    stray = "www.nowhere.test"  # a zone this BIND does not serve
    add_order(account, cn, san_names=[cn, stray], **dns_auto(bind))

    with pytest.raises(WorkflowError) as info:
        asyncio.run(drive(account, cn))
    message = str(info.value)
    assert message.startswith(f"{cn}: {stray}: DNS server {bind.address} refused to say ")
    assert "--dns-zone" in message
    order, challenges = record_of(account, cn)
    assert order.issue_state == S.IssStateChallgReq and stray in order.cert_errors
    states = {c.identifier: c.issue_state for c in challenges}
    assert states[stray] == S.IssStateNone
    # What was already added stays while the order may be resumed ...
    added = [c.dns_value for c in challenges if c.issue_state == S.IssStateChallgReq]
    assert sorted(bind.query(f"_acme-challenge.{cn}")) == sorted(added)

    async def cancel() -> None:
        async with AccountSession.open(account, hosting=True) as session:
            await (await session.workflow()).cancel(cn)

    asyncio.run(cancel())  # ... and goes with the order
    order, challenges = record_of(account, cn)
    assert order.issue_state == S.IssStateCancel and challenges == []
    assert bind.query(f"_acme-challenge.{cn}") == []

    with AccountDB.open(account, writable=True) as db:  # the stray name is dropped
        fixed = db.get_order(cn)
        fixed.san_names, fixed.sans = [cn], [s for s in fixed.sans if s.domain == cn]
        db.put_order(fixed)
        db.save()
    asyncio.run(drive(account, cn))
    assert_collected(account, cn, [cn])


def test_dns_auto_unreachable_server_is_clear(ca, bind, acme_account):
    from tests.servers.pebble import free_port

    account = acme_account(ca)
    cn = bind.unique("down")
    nobody = f"127.0.0.1:{free_port()}"  # nothing listens there
    add_order(account, cn, **dns_auto(bind, dns_server=nobody))
    with pytest.raises(WorkflowError) as info:
        asyncio.run(drive(account, cn))
    assert f"{cn}: {cn}: DNS server {nobody} unreachable" in str(info.value)
    order, challenges = record_of(account, cn)
    assert order.issue_state == S.IssStateChallgReq
    assert [c.issue_state for c in challenges] == [S.IssStateNone]
    assert bind.query(f"_acme-challenge.{cn}") == []


def test_dns_manual_waits_and_a_later_run_finishes_it(
    ca, bind, resolver, acme_account, certdesk_home
):
    account = acme_account(ca, resolver=resolver)
    cn = bind.unique("later")
    record = f"_acme-challenge.{cn}"
    add_order(account, cn, **dns_manual([bind.address]) | {"dns_timeout": 1})
    events: list[Event] = []
    asyncio.run(drive(account, cn, events=events, timeout=1.5))  # nobody acts in time

    order, challenges = record_of(account, cn)
    assert order.issue_state == S.IssStateChallgReq  # still waiting, resumable
    assert [c.issue_state for c in challenges] == [S.IssStateChallgReq]
    value = challenges[0].dns_value
    waiting = [e.what for e in events if isinstance(e, WaitingForPerson)]
    assert waiting and f'{record}. 60 IN TXT "{value}"' in waiting[-1]  # repeated while waiting

    bind.add_txt(record, value)  # the person, after the process has gone
    result = subprocess.run([*CERTDESK, "run", "--once", "-a", str(account)],
                            capture_output=True, text=True, timeout=60,
                            env=certdesk_env(certdesk_home))  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert_collected(account, cn, [cn])
    bind.update(record, "TXT", f'"{value}"', delete=True)
