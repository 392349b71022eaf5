"""Snapshots of the app's screens, from fixed data (fixed dates, numbers, clock and zone).

Regenerate with `pytest tests/test_tui_snapshots.py --snapshot-update` after checking the
report shows the intended change.
"""

from __future__ import annotations

import time

import pytest

from tests.tui_helpers import FIXED_NOW, make_account, write_fixed_orders
from tui.app import CertdeskApp


@pytest.fixture
def account(tmp_path, monkeypatch):
    monkeypatch.setenv("CERTDESK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    directory = make_account(tmp_path / "home", 0, name="snap")
    write_fixed_orders(directory)
    yield directory
    monkeypatch.undo()
    time.tzset()


def app_for(directory) -> CertdeskApp:
    return CertdeskApp(directory, now=lambda: FIXED_NOW, scheduler=False)


async def ready(pilot) -> None:
    await pilot.app.ready.wait()
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause(0.1)  # let the table's resize rebuild settle, even on a busy machine


def test_main_screen_80x24(snap_compare, account):
    assert snap_compare(app_for(account), terminal_size=(80, 24), run_before=ready)


def test_main_screen_160x48(snap_compare, account):
    assert snap_compare(app_for(account), terminal_size=(160, 48), run_before=ready)


def test_detail_pane_chain_tab(snap_compare, account):
    async def before(pilot):
        await ready(pilot)
        await pilot.press("down")  # beta: collected, expiring soon
        pilot.app.query_one("#detail-tabs").active = "tab-chain"
        await pilot.pause()

    assert snap_compare(app_for(account), terminal_size=(120, 40), run_before=before)


def test_marked_revoke_confirmation(snap_compare, account):
    async def before(pilot):
        await ready(pilot)
        await pilot.press("space", "space", "R")
        await pilot.pause()

    assert snap_compare(app_for(account), terminal_size=(80, 24), run_before=before)


def test_order_form_with_errors(snap_compare, account):
    async def before(pilot):
        await ready(pilot)
        await pilot.press("n")
        await pilot.pause()
        await pilot.press(*"bad..name")
        await pilot.pause()

    assert snap_compare(app_for(account), terminal_size=(100, 40), run_before=before)
