"""The `certdesk` command line, run as a real child process, on Own CA accounts."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from engine.icsdb import AccountDB
from engine.model import IssueState
from tests.servers.accounts import certdesk_env

S = IssueState


@pytest.fixture
def certdesk(certdesk_home):
    env = certdesk_env(certdesk_home)

    def run(*args: str, expect: int | None = 0, **kwargs) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "-m", "tui.launch", *args],
            capture_output=True, text=True, timeout=120, env={**env, **kwargs.pop("env", {})},
            **kwargs,
        )  # fmt: skip
        if expect is not None:
            assert result.returncode == expect, f"{args}\n{result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr, result.stderr
        return result

    return run


@pytest.fixture
def ca_dir(tmp_path, certdesk) -> Path:
    directory = tmp_path / "ca"
    certdesk("account", "create", "--supplier", "ownca", "--title", "Test CA", "-a", str(directory))
    return directory


def _help(capsys, *args: str) -> str:
    from engine.cli import main

    assert main([*args, "--help"]) == 0
    return capsys.readouterr().out


def test_help_on_every_command(capsys):
    top = _help(capsys)
    for command in ["account", "domain", "list", "check", "order", "collect", "install", "redist",
                    "renew", "cancel", "revoke", "remove", "run", "ca", "serve", "accounts"]:  # fmt: skip
        assert command in top
        assert "usage: certdesk" in _help(capsys, command)
    for group, subs in {"account": ["create", "show", "rollover", "deactivate"],
                        "domain": ["set", "show", "remove"], "ca": ["create", "load"]}.items():  # fmt: skip
        for sub in subs:
            assert "usage:" in _help(capsys, group, sub)


def test_own_ca_order_install_revoke(ca_dir, tmp_path, certdesk):
    pub = tmp_path / "nginx-certs"
    pub.mkdir()
    marker = tmp_path / "reloaded"
    certdesk("domain", "set", "www.example.com", "--san", "api.example.com", "--formats",
             "sep,bundle,p12", "--pub-dir", str(pub), "--install-command", f"touch {marker}",
             "-a", str(ca_dir))  # fmt: skip
    result = certdesk("order", "www.example.com", "-a", str(ca_dir))
    assert "www.example.com: Installed" in result.stdout
    assert "Checked -> Challg OK" in result.stderr and "Collected -> Installed" in result.stderr
    assert marker.exists()
    assert sorted(p.name for p in pub.iterdir()) == [
        "www_example_com-bundle.pem", "www_example_com-certonly.pem",
        "www_example_com-inters.pem", "www_example_com-privatekey.pem", "www_example_com.pfx",
    ]  # fmt: skip

    rows = json.loads(certdesk("list", "--json", "-a", str(ca_dir)).stdout)
    assert rows[0]["common_name"] == "www.example.com"
    assert rows[0]["issue_state"] == "IssStateInstall"
    assert rows[0]["san_names"] == ["www.example.com", "api.example.com"]
    assert rows[0]["order_num"] == 1001 and rows[0]["chain_result"] == "chainOK"
    table = certdesk("list", "-a", str(ca_dir)).stdout
    assert "www.example.com" in table and "Installed" in table and "1001" in table

    certdesk("revoke", "www.example.com", "--reason", "key-compromise", "-a", str(ca_dir))
    index = (ca_dir / "index.txt").read_text()
    assert index.startswith("R\t") and "keyCompromise" in index
    shown = json.loads(
        certdesk("domain", "show", "www.example.com", "--json", "-a", str(ca_dir)).stdout
    )
    assert shown["issue_state"] == "IssStateCancel" and shown["revoke_reason"] == 1


def test_account_directory_from_environment(ca_dir, certdesk):
    certdesk("domain", "set", "env.example.com", env={"CERTDESK_ACCOUNT": str(ca_dir)})
    assert "env.example.com" in certdesk("list", env={"CERTDESK_ACCOUNT": str(ca_dir)}).stdout


def test_known_accounts_are_remembered(ca_dir, certdesk, certdesk_home):
    listed = json.loads(certdesk("accounts", "--json").stdout)
    assert [a["directory"] for a in listed] == [str(ca_dir.resolve())]
    assert listed[0]["supplier"] == "SuppProtoOwnCA"


@pytest.mark.parametrize(
    "args,message",
    [
        (["domain", "set", "not a name"], "cannot contain spaces"),
        (["domain", "set", "bad_label.example.com"], "must be 1-63 letters"),
        (["domain", "set", "localhost"], "fully qualified"),
        (
            ["domain", "set", "a.example.com", "--challenge", "carrier-pigeon"],
            "unknown challenge method",
        ),
        (["domain", "set", "a.example.com", "--key-type", "rsa512"], "unknown key type"),
        (["domain", "set", "a.example.com", "--formats", "bundle,zip"], "unknown output format"),
        (["domain", "set", "a.example.com", "--csr", "/nonexistent.csr"], "go together"),
        (["domain", "set", "a.example.com", "--http-listen", "nowhere"], "ADDR:PORT"),
    ],
)
def test_bad_input_is_a_usage_error_and_changes_nothing(ca_dir, certdesk, args, message):
    before = (ca_dir / "ics-control.db").read_bytes()
    result = certdesk(*args, "-a", str(ca_dir), expect=2)
    assert message in result.stderr
    assert (ca_dir / "ics-control.db").read_bytes() == before


def test_usage_errors_exit_2(tmp_path, certdesk):
    assert certdesk("list", expect=2).stderr.count("CERTDESK_ACCOUNT") == 1
    assert certdesk("order", expect=2).returncode == 2  # CN missing
    assert certdesk("no-such-command", expect=2).returncode == 2


def test_failures_exit_1_with_a_message(ca_dir, tmp_path, certdesk):
    missing = certdesk("list", "-a", str(tmp_path / "nowhere"), expect=1)
    assert "nowhere" in missing.stderr
    assert "no order" in certdesk("order", "x.example.com", "-a", str(ca_dir), expect=1).stderr
    certdesk("domain", "set", "x.example.com", "-a", str(ca_dir))
    not_collected = certdesk("revoke", "x.example.com", "-a", str(ca_dir), expect=1)
    assert "no collected certificate" in not_collected.stderr
    again = certdesk("account", "create", "--supplier", "ownca", "-a", str(ca_dir), expect=1)
    assert "already has" in again.stderr


def test_wildcard_needs_dns_for_acme(tmp_path, certdesk):
    acme = tmp_path / "acme"
    certdesk("account", "create", "--supplier", "acme", "--server", "https://127.0.0.1:9/dir",
             "--no-register", "-a", str(acme))  # fmt: skip
    result = certdesk(
        "domain", "set", "*.example.com", "--challenge", "file-srv", "-a", str(acme), expect=2
    )
    assert "only validates by dns-01" in result.stderr
    certdesk(
        "domain",
        "set",
        "*.example.com",
        "--san",
        "example.com",
        "--challenge",
        "dns-manual",
        "-a",
        str(acme),
    )


def test_editing_a_running_order_keeps_its_state(ca_dir, certdesk):
    certdesk("domain", "set", "run.example.com", "-a", str(ca_dir))
    with AccountDB.open(ca_dir, writable=True) as db:
        order = db.get_order("run.example.com")
        order.issue_state = S.IssStateChallgPend
        db.put_order(order)
        db.save()
    result = certdesk(
        "domain", "set", "run.example.com", "--organization", "Example Ltd", "-a", str(ca_dir)
    )
    assert "stays Challg Pending" in result.stderr
    with AccountDB.open(ca_dir, writable=False) as db:
        order = db.get_order("run.example.com")
    assert order.issue_state == S.IssStateChallgPend and order.organization == "Example Ltd"


HOLDER = textwrap.dedent(
    """
    import sys, time
    from engine.icsdb import AccountDB
    db = AccountDB.open(sys.argv[1], writable=True)
    print("locked", flush=True)
    time.sleep(60)
    """
)


def test_second_writer_is_told_who_holds_the_account(ca_dir, certdesk, certdesk_home):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(ca_dir)], stdout=subprocess.PIPE,
                              text=True, env=certdesk_env(certdesk_home))  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        refused = certdesk("domain", "set", "locked.example.com", "-a", str(ca_dir), expect=1)
        assert str(holder.pid) in refused.stderr
        # Read-only use goes on while the lock is held.
        assert certdesk("list", "-a", str(ca_dir)).returncode == 0
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    certdesk(
        "domain", "set", "locked.example.com", "-a", str(ca_dir)
    )  # the dead holder's lock is taken over
