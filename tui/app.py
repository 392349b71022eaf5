"""The certdesk app: accounts, orders, the selected order's detail and the live log.

Everything it does goes through the engine: an `AccountSession` per open account, its
`Workflow` for the actions and a `Scheduler` run as a worker, so pending orders progress
and renewals happen while the app is open, as in ICS's sample.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.message import Message
from textual.widgets import Footer, Header, Input, Static
from textual.worker import Worker

from engine import registry
from engine.events import DnsPropagation, Event, EventBus

from .actions import ActionsMixin
from .present import KNOWN_ERRORS, Now, utc_now
from .widgets.accounts import (
    AccountInfo,
    AccountsPane,
    describe_account,
    display_dir,
    load_account_info,
)
from .widgets.detail import DetailPane
from .widgets.log import LogEntry, LogPane
from .widgets.orders import OrderTable
from .widgets.progress import BulkBar

__all__ = ["CertdeskApp", "run_app"]

WIDE = 110  # columns from which the accounts and the detail sit beside the orders
SANDBOX_TITLE = "Sandbox Own CA"


class EngineEvent(Message):
    """An engine event, delivered to the app's message queue."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class CertdeskApp(ActionsMixin, App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "certdesk"
    BINDINGS = [
        Binding("n", "new_order", "New"),
        Binding("e", "edit_order", "Edit"),
        Binding("o", "order", "Order"),
        Binding("g", "collect", "Collect"),
        Binding("R", "revoke", "Revoke"),
        Binding("slash", "filter", "Filter"),
        Binding("c", "check", "Check", show=False),
        Binding("i", "install", "Install", show=False),
        Binding("d", "redistribute", "Redist", show=False),
        Binding("r", "renew", "Renew", show=False),
        Binding("x", "cancel_order", "Cancel", show=False),
        Binding("delete", "remove", "Remove", show=False),
        Binding("a", "new_account", "Account", show=False),
        Binding("A", "open_account", "Open dir", show=False),
        Binding("l", "log_level", "Log level", show=False),
        Binding("f5", "reload", "Reload", show=False),
        Binding("escape", "escape", "Stop/clear", show=False),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        account_dir: str | os.PathLike[str] | None = None,
        *,
        now: Now = utc_now,
        scheduler: bool = True,
        follow_interval: float = 2.0,
    ) -> None:
        super().__init__()
        self.account_dir = Path(account_dir).expanduser() if account_dir else None
        self.now = now
        self.run_scheduler = scheduler
        self.follow_interval = follow_interval
        self.session = None
        self.read_only_reason = ""
        self.dns: dict[str, dict[str, DnsPropagation]] = {}  # cn -> record -> progress
        self._bus_unsubscribe = None
        self._scheduler_stop: asyncio.Event | None = None
        self._scheduler_worker: Worker | None = None
        self._follow_timer = None
        self._file_stamp: tuple[int, int, int] | None = None
        self._dirty: set[str] = set()
        self._repaint_pending = False
        self.ready = asyncio.Event()  # set once the first account is open (or failed)

    # -- layout

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="⚿")
        with Horizontal(id="body"):
            yield AccountsPane(id="accounts")
            with Vertical(id="center"):
                yield Static(id="account-bar")
                yield Input(placeholder="filter: words in the name, method or state", id="filter")
                yield OrderTable(id="orders", now=self.now)
        with Horizontal(id="lower"):
            yield DetailPane(id="detail", now=self.now)
            yield LogPane(id="log")
        yield BulkBar(id="bulk")
        yield Footer()

    @property
    def table(self) -> OrderTable:
        return self.query_one(OrderTable)

    @property
    def log_pane(self) -> LogPane:
        return self.query_one(LogPane)

    def on_mount(self) -> None:
        self.query_one("#filter").display = False
        self.query_one(BulkBar).display = False
        self.query_one(DetailPane).border_title = "Order"
        self.table.border_title = "Orders"
        self._apply_width(self.size.width)
        self.table.focus()
        self._start()

    def on_resize(self, event: Resize) -> None:
        self._apply_width(event.size.width)

    def _apply_width(self, width: int) -> None:
        wide = width >= WIDE
        self.screen.set_class(wide, "-wide")

    # -- opening and closing accounts

    @work(group="account", exclusive=True)
    async def _start(self) -> None:
        try:
            directory = self.account_dir or self._first_account()
            if directory is not None:
                await self.open_account(directory)
            self.refresh_accounts()
        finally:
            self.ready.set()

    def _first_account(self) -> Path | None:
        """A known account that opens; on the very first start, a sandbox Own CA."""
        known = registry.known_accounts()
        for directory in known:
            if (directory / "ics-control.db").is_file():
                return directory
        if known:
            return known[0]  # it will say what is wrong with it
        from engine.accounts import create_ownca_account

        try:
            directory = create_ownca_account(
                registry.default_account_dir("sandbox"), title=SANDBOX_TITLE
            )
        except KNOWN_ERRORS as exc:
            self.report_error("", f"could not create the sandbox account: {exc}")
            return None
        self.add_log("", "created a sandbox Own CA account to try things out: press n to add "
                     "an order, o to order it, R to revoke")  # fmt: skip
        return directory

    async def open_account(self, directory: str | os.PathLike[str]) -> bool:
        """Open `directory` (read-only when another process holds it); False on failure."""
        from engine.lock import LockedError
        from engine.session import AccountSession

        directory = Path(directory).expanduser()
        bus = EventBus()
        reason = ""
        try:
            try:
                session = AccountSession.open(directory, writable=True, bus=bus, hosting=True)
            except LockedError as exc:
                reason = str(exc)
                session = AccountSession.open(directory, writable=False, bus=bus, hosting=True)
        except KNOWN_ERRORS as exc:
            self.report_error("", f"cannot open {directory}: {exc}")
            return False
        await self.close_account()
        self.session, self.read_only_reason, self.dns = session, reason, {}
        self._bus_unsubscribe = bus.subscribe(lambda event: self.post_message(EngineEvent(event)))
        registry.remember(session.directory)
        for warning in session.db.warnings:
            self.add_log("", warning, logging.WARNING)
        self.table.renew_days = session.account.renew_days
        self.table.set_orders(session.db.summaries())
        self.sub_title = self._subtitle()
        if reason:
            self.add_log("", f"read-only: {reason}", logging.WARNING)
            self.notify(f"Opened read-only: {reason}", severity="warning", timeout=8)
            self._follow_timer = self.set_interval(self.follow_interval, self.follow_file)
        else:
            self.add_log("", f"opened {display_dir(session.directory)}")
            if self.run_scheduler:
                self._start_scheduler()
        self.refresh_accounts()
        self.show_detail()
        return True

    async def close_account(self) -> None:
        if self.session is None:
            return
        await self.stop_bulk()
        await self._stop_scheduler()
        if self._follow_timer is not None:
            self._follow_timer.stop()
            self._follow_timer = None
        if self._bus_unsubscribe is not None:
            self._bus_unsubscribe()
        session, self.session = self.session, None
        try:
            await session.aclose()
        except KNOWN_ERRORS as exc:
            self.report_error("", f"closing {session.directory}: {exc}")

    def _subtitle(self) -> str:
        if self.session is None:
            return "no account open"
        account = self.session.account
        text = f"{account.title or account.supplier.display} · {account.supplier.display}"
        return text + (" · READ-ONLY (locked by another process)" if self.read_only_reason else "")

    @property
    def read_only(self) -> bool:
        return self.session is None or bool(self.read_only_reason)

    def _start_scheduler(self) -> None:
        self._scheduler_stop = asyncio.Event()
        self._scheduler_worker = self.run_worker(
            self._run_scheduler(self._scheduler_stop), group="scheduler", exit_on_error=False
        )

    async def _run_scheduler(self, stop: asyncio.Event) -> None:
        from engine.scheduler import Scheduler

        try:
            workflow = await self.session.workflow()
            await Scheduler(workflow).run(stop=stop)
        except KNOWN_ERRORS as exc:
            self.report_error("", f"the completion loop stopped: {exc}")

    async def _stop_scheduler(self) -> None:
        if self._scheduler_stop is not None:
            self._scheduler_stop.set()
        if self._scheduler_worker is not None:
            try:
                await asyncio.wait_for(self._scheduler_worker.wait(), 10)
            except Exception:  # cancelled or timed out: it is being torn down anyway
                self._scheduler_worker.cancel()
        self._scheduler_stop = self._scheduler_worker = None

    async def action_quit(self) -> None:
        await self.close_account()
        self.exit(0)

    # -- following the engine and the file

    def on_engine_event(self, message: EngineEvent) -> None:
        event = message.event
        if isinstance(event, DnsPropagation):
            self.dns.setdefault(event.cn, {})[event.record] = event
        self.log_pane.add(LogEntry(event.at, event.level, event.cn, event.describe()))
        if event.cn:
            self.order_changed(event.cn)

    def order_changed(self, cn: str) -> None:
        """Repaint an order soon; a burst of events repaints once."""
        self._dirty.add(cn)
        if not self._repaint_pending:
            self._repaint_pending = True
            self.set_timer(0.02, self._repaint_dirty)

    def _repaint_dirty(self) -> None:
        self._repaint_pending = False
        dirty, self._dirty = self._dirty, set()
        if self.session is None:
            return
        for cn in dirty:
            order = self.session.db.summary(cn)
            if order is None:
                self.table.remove_order(cn)
            else:
                self.table.update_order(order)
        if self.query_one(DetailPane).cn in dirty or not self.table.orders:
            self.show_detail()
        self.refresh_account_bar()

    def follow_file(self) -> None:
        """Read-only: re-read the database when the holder of the lock wrote it."""
        if self.session is None:
            return
        try:
            stat = os.stat(self.session.db.path)
            stamp = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
            if stamp == self._file_stamp:
                return
            self._file_stamp = stamp
            self.session.db.reload()
        except KNOWN_ERRORS as exc:
            self.report_error("", f"re-reading the account: {exc}")
            return
        self.table.set_orders(self.session.db.summaries())
        self.show_detail()
        self.refresh_account_bar()

    def action_reload(self) -> None:
        self._file_stamp = None
        self.follow_file()
        self.refresh_accounts()

    # -- panes

    def on_order_table_highlighted(self, message: OrderTable.Highlighted) -> None:
        self.show_detail()

    def show_detail(self) -> None:
        pane = self.query_one(DetailPane)
        cn = self.table.current
        if self.session is None or cn is None:
            pane.show(None)
            return
        order = self.session.db.get_order(cn)
        challenges = self.session.db.challenges(cn) if order else []
        pane.show(order, challenges, self.dns.get(cn), str(self.session.directory))

    def refresh_account_bar(self) -> None:
        bar = self.query_one("#account-bar", Static)
        if self.session is None:
            bar.update("No account open: a creates one, A opens a directory.")
            return
        info = AccountInfo(self.session.directory, self.session.account, self.table.counts)
        text = describe_account(info, compact=True)
        if self.read_only_reason:
            text.append(" · READ-ONLY", style="bold yellow")
        marked = len(self.table.marked)
        if marked:
            text.append(f" · {marked} marked", style="bold magenta")
        bar.update(text)

    def refresh_accounts(self) -> None:
        current = self.session.directory if self.session else None
        infos = []
        for directory in registry.known_accounts():
            if directory == current and self.session is not None:
                counts = self.table.counts
                infos.append(AccountInfo(directory, self.session.account, counts))
            else:
                infos.append(load_account_info(directory))
        self.query_one(AccountsPane).show(infos, current)
        self.refresh_account_bar()

    def on_order_table_marks_changed(self, message: OrderTable.MarksChanged) -> None:
        self.refresh_account_bar()

    async def on_option_list_option_selected(self, event: AccountsPane.OptionSelected) -> None:
        if event.option.id and (
            self.session is None or Path(event.option.id) != self.session.directory
        ):
            await self.open_account(event.option.id)

    # -- filter and log

    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.display = True
        field.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.table.set_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            if not event.value:
                event.input.display = False
            self.table.focus()

    async def action_escape(self) -> None:
        if self.bulk_running:
            await self.stop_bulk()
            return
        field = self.query_one("#filter", Input)
        if field.display:
            field.value = ""
            field.display = False
            self.table.set_filter("")
            self.table.focus()

    def action_log_level(self) -> None:
        level = self.log_pane.cycle_level()
        self.notify(f"log shows {logging.getLevelName(level).lower()} and above", timeout=2)

    def add_log(self, cn: str, message: str, level: int = logging.INFO) -> None:
        self.log_pane.add(LogEntry(self.now().astimezone(), level, cn, message))

    def report_error(self, cn: str, message: str) -> None:
        """A failure a person should see: a notification and a log line; the app goes on."""
        self.add_log(cn, message, logging.ERROR)
        self.notify(message, title="certdesk", severity="error", timeout=8)


def run_app(account_dir: str | None) -> int:
    app = CertdeskApp(account_dir)
    result = app.run()
    return int(result or app.return_code or 0)
