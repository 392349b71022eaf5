"""http-01 responders against real servers on 127.0.0.1: web root, built-in server, FTP
and FTPS upload, the check-time test file, and their failures."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from engine.challenges import (
    ResponderError,
    ResponderHost,
    check_reachable,
    needs_process,
    responder_for,
)
from engine.model import Account, Challenge, ChallengeType, Order, San

TOKEN = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
KEYAUTH = f"{TOKEN}.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def challenge(domain: str = "localhost", token: str = TOKEN, keyauth: str = KEYAUTH) -> Challenge:
    return Challenge(domain=domain, common_name=domain, token=token, key_authorization=keyauth)


@pytest.fixture
async def host():
    async with ResponderHost() as responder_host:
        yield responder_host


async def test_web_root_writes_serves_and_removes(tmp_path: Path, host: ResponderHost, ftp_server):
    # The FTP harness's web server doubles as "the site": its root is the web root here.
    well_known = ftp_server.root / ".well-known"
    order = Order(
        common_name="localhost",
        challenge_type=ChallengeType.ChallFileUNC,
        well_known_dir=str(well_known),
    )
    account = Account(validation_http_port=ftp_server.http_port)
    responder = responder_for(order, account, host)
    assert not responder.needs_process
    ch = challenge()
    line = await responder.prepare(ch, order, account)
    path = well_known / "acme-challenge" / TOKEN
    assert path.read_text() == KEYAUTH
    assert str(path) in line
    assert ch.page == f"acme-challenge/{TOKEN}" and ch.wk_full_name == str(path)
    assert (path.stat().st_mode & 0o777) == 0o644
    result = await responder.self_test(ch, order, account)
    assert result.ok, result.detail
    await responder.cleanup(ch, order, account)
    assert not path.exists()
    failed = await responder.self_test(ch, order, account)
    assert not failed.ok and "HTTP 404" in failed.detail and TOKEN in failed.detail


async def test_web_root_uses_the_san_directory(tmp_path: Path, host: ResponderHost):
    order = Order(
        common_name="a.test",
        challenge_type=ChallengeType.ChallFileUNC,
        well_known_dir=str(tmp_path / "order"),
        sans=[San(domain="b.test", well_known_dir=str(tmp_path / "san-b"))],
    )
    responder = responder_for(order, Account(), host)
    await responder.prepare(challenge("b.test"), order, Account())
    await responder.prepare(challenge("a.test", token="other"), order, Account())
    assert (tmp_path / "san-b" / "acme-challenge" / TOKEN).exists()
    assert (tmp_path / "order" / "acme-challenge" / "other").exists()


async def test_web_root_without_directory_is_a_clear_error(host: ResponderHost):
    order = Order(common_name="a.test", challenge_type=ChallengeType.ChallFileUNC)
    with pytest.raises(ResponderError, match=r"no \.well-known directory"):
        await responder_for(order, Account(), host).prepare(challenge("a.test"), order, Account())


async def test_http01_refuses_wildcards(tmp_path: Path, host: ResponderHost):
    order = Order(
        common_name="*.a.test",
        challenge_type=ChallengeType.ChallFileUNC,
        well_known_dir=str(tmp_path),
    )
    ch = challenge("a.test")
    ch.wildcard = True
    with pytest.raises(ResponderError, match="wildcard"):
        await responder_for(order, Account(), host).prepare(ch, order, Account())


async def test_builtin_server_serves_only_live_tokens(host: ResponderHost):
    port = free_port()
    order = Order(
        common_name="localhost",
        challenge_type=ChallengeType.ChallFileSrv,
        http_listen=f"127.0.0.1:{port}",
    )
    other = Order(common_name="127.0.0.1", challenge_type=ChallengeType.ChallFileSrv)
    account = Account(validation_http_port=port, http_listen=f"127.0.0.1:{port}")
    responder = responder_for(order, account, host)
    assert responder.needs_process and needs_process(ChallengeType.ChallFileSrv)
    assert not host.listening  # nothing started until a challenge needs it
    first, second = challenge(), challenge("127.0.0.1", token="second-token", keyauth="second.ka")
    await responder.prepare(first, order, account)
    # A second order on the account's listener shares the same server.
    second_responder = responder_for(other, account, host)
    await second_responder.prepare(second, other, account)
    assert len(host.listening) == 1 and "(2 live)" in host.listening[0]
    assert first.page == f"acme-challenge/{TOKEN}"

    base = f"http://127.0.0.1:{port}/.well-known"
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{base}/acme-challenge/{TOKEN}")).text == KEYAUTH
        assert (await client.get(f"{base}/acme-challenge/second-token")).text == "second.ka"
        assert (await client.get(f"{base}/acme-challenge/unknown")).status_code == 404
        assert (await client.get(f"http://127.0.0.1:{port}/")).status_code == 404
        assert (await client.post(f"{base}/acme-challenge/{TOKEN}")).status_code == 405
        head = await client.head(f"{base}/acme-challenge/{TOKEN}")
        assert head.status_code == 200 and head.content == b""
    assert (await responder.self_test(first, order, account)).ok
    assert (await second_responder.self_test(second, other, account)).ok

    await responder.cleanup(first, order, account)
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{base}/acme-challenge/{TOKEN}")).status_code == 404
        assert (await client.get(f"{base}/acme-challenge/second-token")).status_code == 200
    await host.aclose()
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(f"{base}/acme-challenge/second-token")


async def test_builtin_server_port_in_use_is_a_clear_error(host: ResponderHost):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        order = Order(
            common_name="localhost",
            challenge_type=ChallengeType.ChallFileSrv,
            http_listen=f"127.0.0.1:{port}",
        )
        with pytest.raises(ResponderError, match=f"cannot listen for http-01 on 127.0.0.1:{port}"):
            await responder_for(order, Account(), host).prepare(challenge(), order, Account())


async def test_check_reachable_publishes_and_removes_a_test_file(host: ResponderHost, ftp_server):
    well_known = ftp_server.root / ".well-known"
    order = Order(
        common_name="localhost",
        san_names=["localhost", "127.0.0.1"],
        challenge_type=ChallengeType.ChallFileUNC,
        well_known_dir=str(well_known),
    )
    account = Account(validation_http_port=ftp_server.http_port)
    results = await check_reachable(order, account, host)
    assert [r.ok for r in results] == [True, True], results
    assert "icstestfile-" in results[0].detail
    assert list((well_known / "acme-challenge").iterdir()) == []
    # A site that does not serve the directory fails the check, and says where it looked.
    order.well_known_dir = str(ftp_server.root.parent / "elsewhere")
    results = await check_reachable(order, account, host)
    assert not results[0].ok and "HTTP 404" in results[0].detail


async def test_self_test_reports_an_unreachable_site(host: ResponderHost, tmp_path: Path):
    port = free_port()
    order = Order(
        common_name="localhost",
        challenge_type=ChallengeType.ChallFileUNC,
        well_known_dir=str(tmp_path),
    )
    account = Account(validation_http_port=port)
    responder = responder_for(order, account, host)
    ch = challenge()
    await responder.prepare(ch, order, account)
    result = await responder.self_test(ch, order, account)
    assert not result.ok
    assert f"http://localhost:{port}/.well-known/acme-challenge/{TOKEN}" in result.detail
    assert "ConnectError" in result.detail


@pytest.mark.parametrize("tls", [False, True], ids=["ftp", "ftps"])
async def test_ftp_upload_self_test_and_delete(request, host: ResponderHost, tls: bool):
    server = request.getfixturevalue("ftps_server" if tls else "ftp_server")
    order = Order(
        common_name="localhost",
        challenge_type=ChallengeType.ChallFileFtp,
        ftp_server=server.address,
        ftp_user=server.user,
        ftp_password=server.password,
        ftp_tls=tls,
    )
    account = Account(validation_http_port=server.http_port)
    responder = responder_for(order, account, host)
    ch = challenge()
    line = await responder.prepare(ch, order, account)
    uploaded = server.root / ".well-known" / "acme-challenge" / TOKEN
    assert uploaded.read_text() == KEYAUTH
    assert ("ftps://" if tls else "ftp://") in line and server.password not in line
    assert ch.wk_full_name == f"/.well-known/acme-challenge/{TOKEN}"
    assert (await responder.self_test(ch, order, account)).ok
    results = await check_reachable(order, account, host)
    assert results and results[0].ok, results
    await responder.cleanup(ch, order, account)
    assert not uploaded.exists()
    await responder.cleanup(ch, order, account)  # already gone: not an error


async def test_ftp_into_a_subdirectory(host: ResponderHost, ftp_server):
    (ftp_server.root / "htdocs").mkdir()
    order = Order(
        common_name="localhost",
        challenge_type=ChallengeType.ChallFileFtp,
        ftp_server=ftp_server.address,
        ftp_user=ftp_server.user,
        ftp_password=ftp_server.password,
        ftp_dir="/htdocs",
    )
    ch = challenge()
    await responder_for(order, Account(), host).prepare(ch, order, Account())
    assert (ftp_server.root / "htdocs/.well-known/acme-challenge" / TOKEN).exists()


async def test_ftp_login_failure_is_clear_and_hides_the_password(host: ResponderHost, ftp_server):
    order = Order(
        common_name="localhost",
        challenge_type=ChallengeType.ChallFileFtp,
        ftp_server=ftp_server.address,
        ftp_user=ftp_server.user,
        ftp_password="wrong-secret-xyz",
    )
    with pytest.raises(ResponderError, match="login refused") as caught:
        await responder_for(order, Account(), host).prepare(challenge(), order, Account())
    assert "wrong-secret-xyz" not in str(caught.value)
    assert ftp_server.address in str(caught.value)


async def test_ftp_unreachable_server_is_clear(host: ResponderHost):
    port = free_port()
    order = Order(
        common_name="localhost",
        challenge_type=ChallengeType.ChallFileFtp,
        ftp_server=f"127.0.0.1:{port}",
        ftp_user="u",
        ftp_password="p",
    )
    with pytest.raises(ResponderError, match=f"127.0.0.1:{port}: cannot connect"):
        await responder_for(order, Account(), host).prepare(challenge(), order, Account())


async def test_plain_ftp_client_against_tls_required_server_fails_clearly(
    host: ResponderHost, ftps_server
):
    order = Order(
        common_name="localhost",
        challenge_type=ChallengeType.ChallFileFtp,
        ftp_server=ftps_server.address,
        ftp_user=ftps_server.user,
        ftp_password=ftps_server.password,
        ftp_tls=False,
    )
    with pytest.raises(ResponderError, match="login refused"):
        await responder_for(order, Account(), host).prepare(challenge(), order, Account())


async def test_email_and_manual_wait_for_a_person(host: ResponderHost):
    from engine.challenges import mark_person_done

    order = Order(
        common_name="shop.test",
        challenge_type=ChallengeType.ChallEmail,
        approver_email="admin@shop.test",
    )
    responder = responder_for(order, Account(), host)
    ch = challenge("shop.test")
    assert "admin@shop.test" in await responder.prepare(ch, order, Account())
    waiting = await responder.self_test(ch, order, Account())
    assert not waiting.ok and waiting.waiting and "admin@shop.test" in waiting.detail
    mark_person_done(ch, "approved by Jane")
    done = await responder.self_test(ch, order, Account())
    assert done.ok and "approved by Jane" in done.detail

    manual = Order(
        common_name="x.test",
        challenge_type=ChallengeType.ChallManual,
        manual_instructions="upload the file via the hosting panel",
    )
    result = await responder_for(manual, Account(), host).self_test(
        challenge("x.test"), manual, Account()
    )
    assert result.waiting and "hosting panel" in result.detail


def test_unknown_method_is_a_clear_error():
    for kind, text in [
        (ChallengeType.ChallNone, "no challenge method"),
        (ChallengeType.ChallFileApp, "not supported"),
    ]:
        with pytest.raises(ResponderError, match=text):
            responder_for(
                Order(common_name="a.test", challenge_type=kind), Account(), ResponderHost()
            )
