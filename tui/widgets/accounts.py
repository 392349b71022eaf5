"""The supplier database: known accounts with supplier, server, e-mail and counts by state."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from engine import registry
from engine.model import Account

from ..present import STATE_STYLE, state_counts

__all__ = ["AccountInfo", "AccountsPane", "describe_account", "load_account_info"]


@dataclass
class AccountInfo:
    directory: Path
    account: Account | None = None
    counts: Counter[str] = field(default_factory=Counter)
    error: str = ""


def load_account_info(directory: Path) -> AccountInfo:
    """A look at an account that is not open (read-only, no lock)."""
    from engine.icsdb import AccountDB

    from ..present import KNOWN_ERRORS

    try:
        db = AccountDB.open(directory, writable=False)
    except KNOWN_ERRORS as exc:
        return AccountInfo(directory, error=str(exc))
    try:
        return AccountInfo(directory, db.account, state_counts(db.summaries()))
    finally:
        db.close()


def display_dir(directory: Path) -> str:
    """Under $CERTDESK_HOME, shown relative to it (shorter, and the same on every machine)."""
    try:
        return "$CERTDESK_HOME/" + str(Path(directory).relative_to(registry.home()))
    except ValueError:
        return str(directory)


def counts_text(counts: Counter[str]) -> Text:
    text = Text()
    total = sum(counts.values())
    text.append(f"{total} order{'s' if total != 1 else ''}")
    styles = {s.display: STATE_STYLE[s] for s in STATE_STYLE}
    styles["Revoked"] = "bold red"
    for label, n in sorted(counts.items()):
        text.append(", ")
        text.append(f"{n} {label}", style=styles.get(label, ""))
    return text


def describe_account(info: AccountInfo, *, current: bool = False, compact: bool = False) -> Text:
    text = Text()
    if info.account is None:
        text.append(display_dir(info.directory), style="bold")
        text.append(f"\n{info.error}", style="red")
        return text
    account = info.account
    title = account.title or account.supplier.display
    text.append(("▶ " if current else "") + title, style="bold")
    text.append(f" · {account.supplier.display}", style="cyan")
    if compact:
        text.append(" · ")
        text.append_text(counts_text(info.counts))
        return text
    if account.server:
        text.append(f"\n{account.server}", style="dim")
    if account.email:
        text.append(f"\n{account.email}")
    text.append(f"\n{display_dir(info.directory)}", style="dim")
    text.append("\n")
    text.append_text(counts_text(info.counts))
    return text


class AccountsPane(OptionList):
    """Enter opens the highlighted account."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.infos: list[AccountInfo] = []

    def on_mount(self) -> None:
        self.border_title = "Accounts"

    def show(self, infos: list[AccountInfo], current: Path | None) -> None:
        self.infos = infos
        highlighted = self.highlighted
        self.clear_options()
        for info in infos:
            self.add_option(
                Option(
                    describe_account(info, current=info.directory == current),
                    id=str(info.directory),
                )
            )
        if infos:
            self.highlighted = min(highlighted or 0, len(infos) - 1)
