"""`python -m engine.serve` in a second process, used as the HTTP host and the FTP drop of
the FTP responder, and refusing what does not belong in a token drop."""

from __future__ import annotations

import ftplib
import io
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from engine.challenges import ResponderHost, responder_for
from engine.model import Account, Challenge, ChallengeType, Order
from engine.serve import TokenDirectory, sweep_expired
from tests.servers.ftp import make_tls_cert

TOKEN = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
KEYAUTH = f"{TOKEN}.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
REPO = Path(__file__).resolve().parent.parent


@dataclass
class Served:
    root: Path
    http_port: int
    ftp_port: int
    user: str
    password: str
    tls: bool
    proc: subprocess.Popen

    def ftp(self) -> ftplib.FTP:
        if self.tls:
            client = ftplib.FTP_TLS(timeout=10)
            client.connect("127.0.0.1", self.ftp_port)
            client.auth()
            client.login(self.user, self.password)
            client.prot_p()
        else:
            client = ftplib.FTP(timeout=10)
            client.connect("127.0.0.1", self.ftp_port)
            client.login(self.user, self.password)
        return client


def start_serve(root: Path, *, tls: bool = False, extra: list[str] | None = None) -> Served:
    user, password = "acme", secrets.token_urlsafe(10)
    argv = [
        sys.executable,
        "-m",
        "engine.serve",
        "--root",
        str(root),
        "--http",
        "127.0.0.1:0",
        "--ftp",
        "127.0.0.1:0",
        "--ftp-user",
        user,
    ]
    if tls:
        argv += ["--ftp-tls", "--ftp-cert", str(make_tls_cert(root.parent))]
    argv += extra or []
    env = dict(os.environ, CERTDESK_FTP_PASSWORD=password)
    proc = subprocess.Popen(
        argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    ports: dict[str, int] = {}
    deadline = time.monotonic() + 20
    while len(ports) < 2 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        found = re.match(r"(\w+) listening on 127\.0\.0\.1:(\d+)", line)
        if found:
            ports[found[1]] = int(found[2])
    if len(ports) < 2:
        proc.kill()
        raise RuntimeError(f"certdesk serve did not start: {proc.stderr.read()}")
    return Served(root, ports["http"], ports["ftps" if tls else "ftp"], user, password, tls, proc)


@pytest.fixture(params=[False, True], ids=["ftp", "ftps"])
def served(request, tmp_path: Path) -> Iterator[Served]:
    server = start_serve(tmp_path / "site", tls=request.param)
    try:
        yield server
    finally:
        server.proc.send_signal(signal.SIGTERM)
        try:
            assert server.proc.wait(timeout=10) == 0  # a clean shutdown on SIGTERM
        finally:
            if server.proc.poll() is None:
                server.proc.kill()


async def test_serve_is_the_ftp_drop_and_the_http_host(served: Served):
    order = Order(
        common_name="localhost",
        challenge_type=ChallengeType.ChallFileFtp,
        ftp_server=f"127.0.0.1:{served.ftp_port}",
        ftp_user=served.user,
        ftp_password=served.password,
        ftp_tls=served.tls,
    )
    account = Account(validation_http_port=served.http_port)
    async with ResponderHost() as host:
        responder = responder_for(order, account, host)
        ch = Challenge(domain="localhost", token=TOKEN, key_authorization=KEYAUTH)
        await responder.prepare(ch, order, account)
        assert (served.root / ".well-known/acme-challenge" / TOKEN).read_text() == KEYAUTH
        result = await responder.self_test(ch, order, account)
        assert result.ok, result.detail
        await responder.cleanup(ch, order, account)
        assert not (served.root / ".well-known/acme-challenge" / TOKEN).exists()
        assert not (await responder.self_test(ch, order, account)).ok


def _refused(client: ftplib.FTP, command: str, data: bytes = b"x") -> str:
    with pytest.raises(ftplib.error_perm) as caught:
        client.storbinary(command, io.BytesIO(data))
    return str(caught.value)


def _oversize(client: ftplib.FTP, command: str) -> str:
    try:
        client.storbinary(command, io.BytesIO(b"A" * 2048))
    except ftplib.error_perm as exc:
        return str(exc)
    except ConnectionResetError:
        # Over TLS the cut data channel may reset before ftplib reads the reply.
        with pytest.raises(ftplib.error_perm) as caught:
            client.voidresp()
        return str(caught.value)
    raise AssertionError("an upload over 1 KiB was accepted")


def test_serve_refuses_what_is_not_a_token(served: Served):
    client = served.ftp()
    try:
        drop = "/.well-known/acme-challenge"
        assert "acme-challenge/<token>" in _refused(client, "STOR /evil")
        assert "acme-challenge/<token>" in _refused(client, f"STOR {drop}/../evil")
        # pyftpdlib clamps `..` at the FTP root; the drop then refuses the clamped path.
        assert "acme-challenge/<token>" in _refused(client, f"STOR {drop}/../../../../tmp/evil")
        assert "not an ACME token" in _refused(client, f"STOR {drop}/index.html")
        assert "not an ACME token" in _refused(client, f"STOR {drop}/.htaccess")
        assert "at most 1024 bytes" in _oversize(client, f"STOR {drop}/{TOKEN}")
        assert not (served.root / ".well-known/acme-challenge" / TOKEN).exists()
        assert _refused(client, f"APPE {drop}/{TOKEN}").startswith("550")
        with pytest.raises(ftplib.error_perm, match=r"only /\.well-known/acme-challenge"):
            client.mkd("/other")
        client.storbinary(f"STOR {drop}/{TOKEN}", io.BytesIO(b"ok"))
        with pytest.raises(ftplib.error_perm):
            client.rename(f"{drop}/{TOKEN}", "/moved")
        with pytest.raises(ftplib.error_perm):
            client.rmd(drop)
        (served.root / "keep.txt").write_text("not yours")
        with pytest.raises(ftplib.error_perm, match="acme-challenge/<token>"):
            client.delete("/keep.txt")
        client.delete(f"{drop}/{TOKEN}")
    finally:
        client.close()
    assert (served.root / "keep.txt").exists()
    assert not (served.root / "evil").exists() and not (served.root.parent / "evil").exists()
    assert not (served.root / "tmp").exists()
    assert not (served.root / ".well-known/index.html").exists()


def test_serve_http_serves_tokens_only(served: Served):
    (served.root / ".well-known/acme-challenge" / TOKEN).write_text(KEYAUTH)
    (served.root / "secret.txt").write_text("private")
    (served.root / ".well-known/acme-challenge/not.a.token").write_text("x")
    base = f"http://127.0.0.1:{served.http_port}"
    with httpx.Client() as client:
        assert client.get(f"{base}/.well-known/acme-challenge/{TOKEN}").text == KEYAUTH
        for path in [
            "/secret.txt",
            "/.well-known/acme-challenge/not.a.token",
            "/.well-known/acme-challenge/..%2F..%2Fsecret.txt",
            "/.well-known/acme-challenge/",
            "/",
        ]:
            assert client.get(f"{base}{path}").status_code == 404, path


def test_tokens_expire(tmp_path: Path):
    root = tmp_path / "site"
    drop = root / ".well-known/acme-challenge"
    drop.mkdir(parents=True)
    fresh, old = drop / "fresh-token", drop / "old-token"
    fresh.write_text("a")
    old.write_text("b")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    lookup = TokenDirectory(root, max_age=3600).lookup
    assert lookup("acme-challenge/fresh-token") == b"a"
    assert lookup("acme-challenge/old-token") is None  # no longer served, even before a sweep
    assert sweep_expired(root, 3600) == [old]
    assert fresh.exists() and not old.exists()


def test_serve_bad_arguments_are_clear(tmp_path: Path):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "engine.serve", "--root", str(tmp_path), *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
            env=dict(os.environ, CERTDESK_FTP_PASSWORD=""),
        )

    nothing = run()
    assert nothing.returncode == 2 and "nothing to serve" in nothing.stderr
    no_user = run("--ftp", "127.0.0.1:0")
    assert no_user.returncode == 2 and "--ftp-user" in no_user.stderr
    no_password = run("--ftp", "127.0.0.1:0", "--ftp-user", "u")
    assert no_password.returncode == 2 and "needs a password" in no_password.stderr
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = run("--http", f"127.0.0.1:{busy.getsockname()[1]}")
    assert taken.returncode == 1 and "cannot listen for http-01" in taken.stderr
    assert "Traceback" not in taken.stderr


async def test_serve_presents_certificate_files_for_tls_alpn(tmp_path: Path):
    # A certdesk elsewhere writes acmealpn-<domain>.pem (ChallAlpnUNC); serve presents it.
    alpn_dir = tmp_path / "alpn"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engine.serve",
            "--root",
            str(tmp_path / "site"),
            "--tls-alpn",
            "127.0.0.1:0",
            "--alpn-dir",
            str(alpn_dir),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        found = re.match(r"tls-alpn listening on 127\.0\.0\.1:(\d+)", proc.stdout.readline())
        assert found, proc.stderr.read()
        order = Order(
            common_name="localhost",
            challenge_type=ChallengeType.ChallAlpnUNC,
            alpn_dir=str(alpn_dir),
        )
        account = Account(validation_tls_port=int(found[1]))
        async with ResponderHost() as host:
            responder = responder_for(order, account, host)
            ch = Challenge(domain="localhost", token=TOKEN, key_authorization=KEYAUTH)
            assert not (await responder.self_test(ch, order, account)).ok  # no file yet
            await responder.prepare(ch, order, account)
            result = await responder.self_test(ch, order, account)
            assert result.ok, result.detail
            await responder.cleanup(ch, order, account)
            assert not (alpn_dir / "acmealpn-localhost.pem").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
