"""The app driven by Pilot over a real engine and real Own CA accounts."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from textual.widgets import Input, Static

from engine import registry
from engine.icsdb import AccountDB
from engine.model import IssueState
from engine.session import AccountSession
from tests.tui_helpers import (
    bulk_done,
    cns,
    collect,
    make_account,
    read_orders,
    started,
    text_of,
    wait_for,
)
from tui.app import CertdeskApp
from tui.screens.confirm import ConfirmScreen, RevokeScreen, SummaryScreen

S = IssueState


@pytest.fixture
def home(tmp_path, monkeypatch):
    path = tmp_path / "home"
    monkeypatch.setenv("CERTDESK_HOME", str(path))
    return path


def app_for(directory=None, **kwargs) -> CertdeskApp:
    return CertdeskApp(directory, scheduler=kwargs.pop("scheduler", False), **kwargs)


async def test_first_start_creates_a_sandbox_own_ca(home):
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        assert app.session is not None and not app.read_only
        assert app.session.directory == (home / "accounts" / "sandbox").resolve()
        assert registry.known_accounts() == [app.session.directory]
        assert "sandbox Own CA" in " ".join(app.log_pane.lines_text())
        # A newcomer adds an order and orders it: the Own CA issues at once.
        await pilot.press("n")
        await pilot.pause()
        await pilot.press(*"try.example.test")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "try.example.test" in app.table.orders)
        before = app.last_bulk
        await pilot.press("o")
        await bulk_done(app, pilot, before)
        assert (
            read_orders(app.session.directory)["try.example.test"].issue_state == S.IssStateCollect
        )


async def test_order_collect_install_and_live_state(home, tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    directory = make_account(home, 2)
    app = app_for(directory)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        # Settings through the edit form: an install directory.
        await pilot.press("e")
        await pilot.pause()
        app.screen.query_one("#pub_dir", Input).value = str(www)
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_for(
            pilot, lambda: app.session.db.get_order(cns(2)[0]).pub_web_dirs == [f"{www}/"]
        )
        before = app.last_bulk
        await pilot.press("o")
        await bulk_done(app, pilot, before)
        cn = cns(2)[0]
        # Collected and installed (the install directory is set), and the row follows.
        assert read_orders(directory)[cn].issue_state == S.IssStateInstall
        await wait_for(pilot, lambda: app.table.get_cell(cn, "state").plain == "Installed")
        assert (www / f"{cn}.pem").exists() or any(www.iterdir())
        log = " ".join(app.log_pane.lines_text())
        assert "collected" in log and "installed into" in log
        # The detail shows the files and the chain check.
        files = text_of(app.query_one("#detail-files", Static))
        assert "Certificate" in files
        # Install and redistribute again on the cursor's order.
        before = app.last_bulk
        await pilot.press("d")
        await bulk_done(app, pilot, before)
        assert app.last_bulk.done == [cn]


async def test_bulk_revoke_of_marked_orders(home):
    directory = make_account(home, 3)
    await collect(directory, cns(3))
    app = app_for(directory)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        await pilot.press("space", "space")  # marks the first two (the cursor moves down)
        assert app.table.marked == set(cns(2))
        before = app.last_bulk
        await pilot.press("R")
        await pilot.pause()
        assert isinstance(app.screen, RevokeScreen)
        text = " ".join(text_of(s) for s in app.screen.query(Static))
        assert "key compromise" in text and "no longer needed" in text
        await pilot.press("down", "enter")  # the second reason: key compromise
        await pilot.click("#revoke")
        await bulk_done(app, pilot, before)
        orders = read_orders(directory)
        for cn in cns(2):
            assert orders[cn].issue_state == S.IssStateCancel
            assert orders[cn].revoke_reason == 1
        assert orders[cns(3)[2]].issue_state == S.IssStateCollect
        assert app.last_bulk.done and not app.last_bulk.failed
        assert app.table.get_cell(cns(3)[0], "state").plain == "Revoked"


async def test_bulk_redistribute_reports_what_failed(home):
    directory = make_account(home, 4)
    await collect(directory, cns(4)[:3])
    app = app_for(directory)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        await pilot.press("asterisk")
        assert app.table.marked == set(cns(4))
        before = app.last_bulk
        await pilot.press("d")
        await bulk_done(app, pilot, before)
        result = app.last_bulk
        assert sorted(result.done) == cns(4)[:3]
        assert list(result.failed) == [cns(4)[3]]
        assert "no collected certificate" in result.failed[cns(4)[3]]
        assert isinstance(app.screen, SummaryScreen)
        summary = text_of(app.screen.query_one("#summary-lines", Static))
        assert "3 done, 1 failed" in summary and cns(4)[3] in summary
        await pilot.press("escape")
        assert not isinstance(app.screen, SummaryScreen)


async def test_marks_invert_filter_and_sort(home):
    directory = make_account(home, 5)
    app = app_for(directory)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        await pilot.press("space", "exclamation_mark")
        assert app.table.marked == set(cns(5)[1:])
        await pilot.press("slash", *"host03")
        await pilot.pause()
        assert app.table.shown == ["host03.example.com"]
        await pilot.press("escape")
        await pilot.pause()
        assert len(app.table.shown) == 5
        app.table.sort_by("cn", reverse=True)
        assert app.table.shown[0] == cns(5)[-1]
        await pilot.press("s")  # next column: SANs
        assert app.table.sort_column == "sans"


async def test_check_cancel_remove_with_confirmations(home):
    directory = make_account(home, 3)
    first, second, third = cns(3)
    async with AccountSession.open(directory) as session:  # ordered, not yet collected
        await (await session.workflow()).place_order(first)
    app = app_for(directory)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        assert app.table.get_cell(first, "state").plain == "Challg OK"
        await pilot.press("down")
        before = app.last_bulk
        await pilot.press("c")
        await bulk_done(app, pilot, before)
        assert read_orders(directory)[second].issue_state == S.IssStateChecked
        await pilot.press("up")
        # Cancel: the confirmation says what cancel is for; "n" changes nothing.
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "no longer needed" in app.screen.message and "revoked" in app.screen.message
        await pilot.press("n")
        await pilot.pause()
        assert read_orders(directory)[first].issue_state == S.IssStateChallgOK
        await pilot.press("x")
        await pilot.pause()
        before = app.last_bulk
        await pilot.press("y")
        await bulk_done(app, pilot, before)
        assert read_orders(directory)[first].issue_state == S.IssStateCancel
        # Remove the third after confirming.
        await pilot.press("down", "down", "delete")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        before = app.last_bulk
        await pilot.press("y")
        await bulk_done(app, pilot, before)
        assert set(read_orders(directory)) == {first, second}
        await wait_for(pilot, lambda: third not in app.table.orders)


async def test_renew_refused_within_a_day_then_done(home):
    directory = make_account(home, 1)
    await collect(directory, cns(1))
    app = app_for(directory)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        before = app.last_bulk
        await pilot.press("r")
        await bulk_done(app, pilot, before)
        assert "less than a day ago" in app.last_bulk.failed[cns(1)[0]]
        assert isinstance(app.screen, SummaryScreen)
        await pilot.press("escape")
        # An older certificate renews.
        db = app.session.db
        order = db.get_order(cns(1)[0])
        db.put_order(replace(order, cert_not_before=datetime.now(UTC) - timedelta(days=60)))
        db.save()
        before = app.last_bulk
        await pilot.press("r")
        await bulk_done(app, pilot, before)
        assert app.last_bulk.done == cns(1)
        renewed = read_orders(directory)[cns(1)[0]]
        assert renewed.issue_state == S.IssStateCollect and renewed.order_num > order.order_num
        assert datetime.now(UTC) - renewed.cert_not_before < timedelta(hours=1)


async def test_bulk_action_can_be_cancelled(home):
    directory = make_account(home, 3)
    app = app_for(directory)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        await pilot.press("asterisk")

        async def slow_check(workflow, cn):
            await workflow.check(cn)
            if cn != cns(3)[0]:
                await __import__("asyncio").sleep(60)

        before = app.last_bulk
        app.start_bulk("check", app.table.targets(), slow_check)
        await wait_for(pilot, lambda: app.query_one("#bulk").display)
        await wait_for(pilot, lambda: app.query_one("#bulk").done == 1)
        await pilot.press("escape")
        await bulk_done(app, pilot, before)
        assert app.last_bulk.done == [cns(3)[0]]
        assert sorted(app.last_bulk.cancelled) == cns(3)[1:]
        assert isinstance(app.screen, SummaryScreen)
        assert not app.query_one("#bulk").display


async def test_order_form_validates_as_you_type(home):
    directory = make_account(home, 1)
    app = app_for(directory)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        await pilot.press("n")
        await pilot.pause()
        form = app.screen
        error = form.query_one("#form-error", Static)
        assert "common name is empty" in text_of(error)
        await pilot.press(*"bad..name")
        await pilot.pause()
        assert form.query_one("#save").disabled
        assert text_of(error).startswith("⚠")
        form.query_one("#cn", Input).value = cns(1)[0]
        await pilot.pause()
        assert "already has an order" in text_of(error)
        form.query_one("#cn", Input).value = "new.example.com"
        form.query_one("#sans", Input).value = "www.new.example.com, api.new.example.com"
        form.query_one("#formats", Input).value = "bundle, nonsense"
        await pilot.pause()
        assert "nonsense" in text_of(error)
        form.query_one("#formats", Input).value = "bundle,p12"
        form.query_one("#key_password", Input).value = "s3cret"
        form.query_one("#organization", Input).value = "Example Ltd"
        form.query_one("#validity", Input).value = "90"
        await pilot.pause()
        assert not form.query_one("#save").disabled
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "new.example.com" in app.table.orders)
        order = read_orders(directory)["new.example.com"]
        assert order.san_names == ["new.example.com", "www.new.example.com", "api.new.example.com"]
        assert order.organization == "Example Ltd" and order.validity_days == 90
        assert order.key_password == "s3cret"


async def test_new_own_ca_account_form(home):
    directory = make_account(home, 1)
    app = app_for(directory)
    async with app.run_test(size=(100, 40)) as pilot:
        await started(app, pilot)
        await pilot.press("a")
        await pilot.pause()
        form = app.screen
        form.query_one("#title", Input).value = "Second CA"
        form.query_one("#directory", Input).value = str(home / "second")
        form.query_one("#validity", Input).value = "x"
        await pilot.pause()
        assert "validity" in form.error
        form.query_one("#validity", Input).value = "365"
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.session and app.session.directory.name == "second")
        assert app.session.account.title == "Second CA"
        assert len(registry.known_accounts()) == 2
        # The accounts pane lists both; selecting the first opens it again.
        pane = app.query_one("#accounts")
        assert pane.option_count == 2
        pane.focus()
        pane.highlighted = 0
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.session.directory == directory)


async def test_acme_account_form_needs_eab_for_zerossl(home):
    app = app_for(make_account(home, 0))
    async with app.run_test(size=(100, 40)) as pilot:
        await started(app, pilot)
        await pilot.press("a")
        await pilot.pause()
        form = app.screen
        form.query_one("#kind").value = "acme"
        await pilot.pause()
        assert form.query_one("#row-eab_kid").display
        assert "https://" in form.error
        form.query_one("#preset").value = "ZeroSSL"
        await pilot.pause()
        assert form.query_one("#server", Input).value.startswith("https://acme.zerossl.com")
        assert "External Account Binding" in form.error
        form.query_one("#eab_kid", Input).value = "kid"
        form.query_one("#eab_hmac", Input).value = "aG1hYw"
        await pilot.pause()
        assert form.error == ""
        await pilot.press("escape")


async def test_bad_directories_are_reported_and_the_app_goes_on(home, tmp_path):
    directory = make_account(home, 2)
    empty = tmp_path / "empty"
    empty.mkdir()
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "ics-control.db").write_bytes(b"[account]\x00\x00garbage")
    app = app_for(directory)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        for bad in (empty, corrupt):
            assert not await app.open_account(bad)
            assert app.session.directory == directory
        log = " ".join(app.log_pane.lines_text())
        assert "not an account directory" in log and "NUL byte" in log
        # Through the open-directory dialog too.
        await pilot.press("A")
        await pilot.pause()
        await pilot.press(*str(empty), "enter")
        await wait_for(pilot, lambda: log.count("not an account") < " ".join(
            app.log_pane.lines_text()).count("not an account"))  # fmt: skip
        assert app.session.directory == directory
        assert (corrupt / "ics-control.db").read_bytes() == b"[account]\x00\x00garbage"


async def test_locked_account_opens_read_only_and_follows_the_file(home):
    directory = make_account(home, 2)
    holder = AccountDB.open(directory, writable=True)  # another process, as far as the app knows
    try:
        app = app_for(directory, follow_interval=0.05)
        async with app.run_test(size=(80, 24)) as pilot:
            await started(app, pilot)
            assert app.read_only and "PID" in app.read_only_reason
            assert "READ-ONLY" in app.sub_title
            await pilot.press("o")
            await pilot.pause()
            assert app.last_bulk is None  # refused, nothing ran
            assert read_orders(directory)[cns(2)[0]].issue_state == S.IssStateNone
            # The holder writes; the row follows the file.
            order = holder.get_order(cns(2)[0])
            holder.put_order(replace(order, issue_state=S.IssStateChecked))
            holder.save()
            await wait_for(pilot, lambda: app.table.get_cell(cns(2)[0], "state").plain == "Checked")
    finally:
        holder.close()


async def test_scheduler_completes_pending_orders_while_open(home):
    directory = make_account(home, 2)
    with AccountDB.open(directory) as db:  # as left by `certdesk order` killed half-way
        for cn in cns(2):
            db.put_order(replace(db.get_order(cn), issue_state=S.IssStateChecked))
        db.save()
    app = CertdeskApp(directory)  # with the completion loop
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        await wait_for(pilot, lambda: all(
            app.table.orders[cn].issue_state == S.IssStateCollect for cn in cns(2)))  # fmt: skip
        assert all(o.issue_state == S.IssStateCollect for o in read_orders(directory).values())
        await pilot.press("q")


async def test_events_update_detail_and_log_level(home):
    from engine.events import DnsPropagation, OrderFailed

    directory = make_account(home, 1)
    app = app_for(directory)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        cn = cns(1)[0]
        bus = app.session.bus
        bus.publish(DnsPropagation(cn, record="_acme-challenge.www0.example.com",
                                   ready=("ns1",), waiting=("ns2",)))  # fmt: skip
        bus.publish(OrderFailed(cn, error="the CA said no"))
        await pilot.pause(0.1)
        challenges = text_of(app.query_one("#detail-challenges", Static))
        assert "1/2 name servers answer" in challenges
        assert any(
            "ERROR" in line and "the CA said no" in line for line in app.log_pane.lines_text()
        )
        await pilot.press("l", "l")  # info -> warning -> error
        assert app.log_pane.lines_text() and all("ERROR" in x for x in app.log_pane.lines_text())


async def test_command_palette_reaches_actions(home):
    directory = make_account(home, 1)
    await collect(directory, cns(1))
    app = app_for(directory)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(app, pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for wanted in ("Check", "Order", "Collect", "Redistribute", "Renew", "Cancel",
                       "Revoke", "Remove", "Install"):  # fmt: skip
            assert f"{wanted} order(s)" in titles
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Revoke order")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RevokeScreen))


def test_engine_imports_without_textual():
    code = (
        "import sys, engine, engine.session, engine.workflow, engine.scheduler, engine.cli\n"
        "assert 'textual' not in sys.modules, sorted(m for m in sys.modules if 'textual' in m)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


async def test_a_long_list_draws_only_what_is_shown_and_follows_the_cursor(home):
    directory = make_account(home, 60)
    app = app_for(directory)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        table = app.table
        names = cns(60)
        assert table.row_count == 60 and table.current == names[0]
        heading, first = table.render_line(0).text, table.render_line(1).text
        assert "Common name ▲" in heading and names[0] in first
        await pilot.press("end")
        assert table.current == names[-1]
        rows_on_screen = table.scrollable_content_region.height - 1  # less the heading
        top = round(table.scroll_y)
        assert top > 0 and top <= table.cursor_row < top + rows_on_screen
        assert names[-1] in table.render_line(table.cursor_row - top + 1).text
        await pilot.press("home")
        assert table.current == names[0] and round(table.scroll_y) == 0
        await pilot.press("pagedown")
        assert table.cursor_row == rows_on_screen - 1
        # A click on a heading sorts by that column; a second click reverses it.
        state_x = sum(table._widths[k] + 2 for k in ("cn", "sans", "method")) + 1
        await pilot.click(table, offset=(state_x, 0))
        assert (table.sort_column, table.sort_reversed) == ("state", False)
        await pilot.click(table, offset=(state_x, 0))
        assert (table.sort_column, table.sort_reversed) == ("state", True)
        assert "State ▼" in table.render_line(0).text
        # A click on a row puts the cursor there.
        await pilot.click(table, offset=(5, 3))
        assert table.cursor_row == round(table.scroll_y) + 2


async def test_output_printed_while_the_app_runs_does_not_stop_it(home):
    """Textual captures print(); the app once shadowed the hook it calls (App._flush)."""
    directory = make_account(home, 2)
    app = app_for(directory)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        print("a library writes to stdout", flush=True)
        app.order_changed(cns(2)[0])
        await pilot.pause(0.1)
        assert app.is_running and app.table.row_count == 2


async def test_state_counts_follow_changes_without_a_recount(home):
    from collections import Counter

    from tui.present import state_counts

    directory = make_account(home, 3)
    app = app_for(directory)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        table = app.table
        assert table.counts == Counter({"None": 3})
        first = cns(3)[0]
        table.update_order(table.orders[first]._replace(issue_state=S.IssStateCollect))
        assert table.counts == Counter({"None": 2, "Collected": 1})
        table.remove_order(cns(3)[1])
        assert table.counts == Counter({"None": 1, "Collected": 1})
        table.update_order(table.orders[cns(3)[2]]._replace(issue_state=S.IssStateCollect))
        assert table.counts == Counter({"Collected": 2}) == state_counts(table.orders.values())


async def test_order_form_checks_an_existing_csr_and_orders_from_it(home, tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from engine.model import CsrOrigin

    key = ec.generate_private_key(ec.SECP256R1())
    names = ["csr.example.com", "www.csr.example.com"]
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .sign(key, hashes.SHA256())
    )
    csr_file, key_file, other_key = tmp_path / "req.pem", tmp_path / "key.pem", tmp_path / "k2.pem"
    csr_file.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    for path, k in ((key_file, key), (other_key, ec.generate_private_key(ec.SECP256R1()))):
        path.write_bytes(
            k.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    directory = make_account(home, 0)
    app = app_for(directory)
    async with app.run_test(size=(100, 40)) as pilot:
        await started(app, pilot)
        await pilot.press("n")
        await pilot.pause()
        form = app.screen
        result = form.query_one("#csr-result", Static)
        form.query_one("#csr", Input).value = str(csr_file)
        form.query_one("#key", Input).value = str(other_key)
        form.query_one("#check-csr").press()
        await pilot.pause()
        assert "match" in text_of(result).lower() and "OK" not in text_of(result)
        form.query_one("#key", Input).value = str(key_file)
        form.query_one("#check-csr").press()
        await pilot.pause()
        shown = "OK: CN csr.example.com; names csr.example.com, www.csr.example.com; key ec256"
        assert text_of(result).strip() == shown
        assert form.query_one("#cn", Input).value == "csr.example.com"  # filled in from the CSR
        await pilot.pause()
        assert not form.query_one("#save").disabled
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "csr.example.com" in app.table.orders)
        await pilot.press("o")
        await wait_for(
            pilot, lambda: app.table.get_cell("csr.example.com", "state").plain == "Collected"
        )
    order = read_orders(directory)["csr.example.com"]
    assert order.csr_origin == CsrOrigin.CsrOriginFile
    certonly = directory / "csr_example_com-certonly.pem"  # the final copy
    cert = x509.load_pem_x509_certificate(certonly.read_bytes())
    assert cert.public_key() == key.public_key()  # signed for the CSR's own key


def test_a_failed_chain_check_stands_out_in_the_state_column():
    from engine.icsdb import OrderSummary
    from engine.model import ChainResult, ChallengeType
    from tui.present import state_label, state_text

    def summary(state, chain):
        return OrderSummary("a.example.com", ("a.example.com",), ChallengeType.ChallNone,
                            state, None, 1001, chain, -1, "")  # fmt: skip

    failed = summary(S.IssStateCollect, ChainResult.chainFail)
    assert state_text(failed).plain == "Collected !" and "red" in str(state_text(failed).style)
    assert state_label(failed) == "Collected"  # counts and the filter keep the state's name
    assert state_text(summary(S.IssStateCollect, ChainResult.chainOK)).plain == "Collected"
    assert state_text(summary(S.IssStateChecked, ChainResult.chainFail)).plain == "Checked"
