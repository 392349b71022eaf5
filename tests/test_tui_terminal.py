"""The real `certdesk` entry point in a real pty (tmux): mark two orders and revoke them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from engine.model import IssueState
from tests.tui_helpers import cns, collect, make_account, read_orders

CERTDESK = Path(sys.executable).parent / "certdesk"
pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs Debian's tmux")


class Tmux:
    def __init__(self, tmp_path: Path) -> None:
        self.socket = f"certdesk-{uuid.uuid4().hex[:12]}"  # one server per test: xdist-safe
        self.tmp_path = tmp_path

    def run(self, *args: str) -> str:
        result = subprocess.run(["tmux", "-L", self.socket, *args], check=True,
                                capture_output=True, text=True)  # fmt: skip
        return result.stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "app")

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared on the screen:\n{self.screen()}")

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.run("send-keys", "-t", "app", key)
            time.sleep(0.15)

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


async def test_mark_two_orders_and_revoke_them_in_a_terminal(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("CERTDESK_HOME", str(home))
    directory = make_account(home, 3)
    await collect(directory, cns(3))
    tmux = Tmux(tmp_path)
    env = f"CERTDESK_HOME={home} TERM=xterm-256color"
    command = f"env {env} {CERTDESK} -a {directory}; sleep 30"
    try:
        tmux.run("new-session", "-d", "-s", "app", "-x", "80", "-y", "24", command)
        tmux.wait_for("3 Collected")
        tmux.keys("Space", "Space")
        tmux.wait_for("2 marked")
        tmux.keys("R")
        tmux.wait_for("Revoke 2 certificates")
        screen = tmux.wait_for("key compromise")
        assert "no longer needed" in screen
        tmux.keys("Tab", "Enter")
        screen = tmux.wait_for("2 Revoked")
        rows = [line for line in screen.splitlines() if "host0" in line and "Revoked" in line]
        assert len(rows) == 2 and all("●" in row for row in rows), screen
        tmux.keys("q")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (directory / ".certdesk.lock").exists() and \
                (directory / ".certdesk.lock").read_text().strip():  # fmt: skip
            time.sleep(0.1)
    finally:
        tmux.kill()
    orders = read_orders(directory)
    revoked = [cn for cn, o in orders.items() if o.issue_state == IssueState.IssStateCancel]
    assert sorted(revoked) == cns(2)
    assert all(orders[cn].revoke_reason == 0 for cn in revoked)
    assert orders[cns(3)[2]].issue_state == IssueState.IssStateCollect
    assert os.path.exists(directory / "ics-control.db")
