"""One writer per account directory, across real processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.icsdb import AccountDB
from engine.lock import LOCK_FILE, AccountLock, LockedError, read_holder
from engine.model import IssueState, Order

ROOT = Path(__file__).resolve().parent.parent

HOLDER = textwrap.dedent(
    """
    import sys, time
    from engine.icsdb import AccountDB
    db = AccountDB.open(sys.argv[1])
    print("holding", flush=True)
    sys.stdin.read()  # until the test closes stdin (or kills us)
    db.close()
    """
)


def spawn_holder(directory: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(directory), "certdesk-test-holder"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "holding"
    return proc


@pytest.fixture
def account(tmp_path) -> Path:
    with AccountDB.open(tmp_path / "acct", create=True) as db:
        db.put_order(Order(common_name="www.example.com"))
    return tmp_path / "acct"


def test_second_writer_in_another_process_is_refused_naming_the_holder(account):
    proc = spawn_holder(account)
    try:
        with pytest.raises(LockedError) as info:
            AccountDB.open(account)
        message = str(info.value)
        assert f"PID {proc.pid}" in message
        assert f"host {socket.gethostname()}" in message
        assert "certdesk-test-holder" in message  # the holder's command line
        assert info.value.holder.pid == proc.pid
        holder = read_holder(account)
        assert holder is not None and holder.pid == proc.pid
        # Read-only use works meanwhile.
        viewer = AccountDB.open(account, writable=False)
        assert [o.common_name for o in viewer.orders()] == ["www.example.com"]
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    assert proc.returncode == 0
    assert read_holder(account) is None  # released, note cleared
    with AccountDB.open(account) as db:
        assert db.get_order("www.example.com") is not None


def test_lock_of_a_sigkilled_holder_is_taken_over(account):
    proc = spawn_holder(account)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdin.close()
    proc.stdout.close()
    note = (account / LOCK_FILE).read_text()
    assert str(proc.pid) in note  # the dead holder's note is still there ...
    assert read_holder(account) is None  # ... but names nobody alive
    with AccountDB.open(account) as db:  # and its flock went with it
        order = db.get_order("www.example.com")
        order.issue_state = IssueState.IssStateChecked
        db.put_order(order)
        assert read_holder(account).pid == os.getpid()
    assert AccountDB.open(account, writable=False).get_order("www.example.com").issue_state == (
        IssueState.IssStateChecked
    )


def test_same_process_second_lock_is_refused(tmp_path):
    with AccountLock(tmp_path) as lock:
        assert lock.held
        with pytest.raises(LockedError, match=f"PID {os.getpid()} "):
            AccountLock(tmp_path).acquire()
    with AccountLock(tmp_path):  # released: free again
        pass
    assert (tmp_path / LOCK_FILE).stat().st_mode & 0o777 == 0o600


def test_closed_db_refuses_changes_and_releases(account):
    db = AccountDB.open(account)
    db.close()
    with pytest.raises(Exception, match="closed"):
        db.put_order(Order(common_name="x.example.com"))
    AccountDB.open(account).close()  # the lock is free


def test_read_only_open_never_creates_a_lock(account):
    (account / LOCK_FILE).unlink()
    AccountDB.open(account, writable=False)
    assert not (account / LOCK_FILE).exists()
