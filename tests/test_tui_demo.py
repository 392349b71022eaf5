"""`make demo`: its account against a local Pebble, driven through the app as a person would."""

from __future__ import annotations

import pytest

from engine.model import ChainResult, IssueState
from tests.tui_helpers import read_orders, started, wait_for
from tui.app import CertdeskApp
from tui.demo import DEMO_NAMES, prepare

pytestmark = pytest.mark.pebble


async def test_demo_orders_collect_with_a_good_chain(pebble_factory, tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("CERTDESK_HOME", str(home))
    server = pebble_factory(challtestsrv_http=False)  # the app's own http-01 server answers
    trust = tmp_path / "pebble-trust.pem"
    trust.write_bytes(server.ca_bundle.read_bytes() + b"".join(server.root_pems()))
    directory = await prepare(server.directory_url, trust, server.http_port, server.dns_port, home)

    app = CertdeskApp(directory, scheduler=False)
    async with app.run_test(size=(120, 32)) as pilot:
        await started(app, pilot)
        await pilot.press("asterisk", "o")
        await wait_for(
            pilot,
            lambda: all(
                o.issue_state == IssueState.IssStateCollect for o in app.table.orders.values()
            ),
            timeout=60,
        )
        await app.close_account()
    orders = read_orders(directory)
    assert sorted(orders) == sorted(DEMO_NAMES)
    for order in orders.values():
        assert order.chain_result == ChainResult.chainOK, order.cert_errors
