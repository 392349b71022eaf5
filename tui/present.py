"""How orders look on screen: state colours, expiry with days left, table cells, filters.

Plain functions over engine records, so the widgets stay thin and the bench can time them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from rich.text import Text

from engine.icsdb import OrderSummary
from engine.model import ChainResult, IssueState, Order
from engine.names import friendly

__all__ = [
    "KNOWN_ERRORS",
    "STATE_STYLE",
    "Listed",
    "Now",
    "days_left",
    "expiry_text",
    "haystack",
    "is_revoked",
    "level_style",
    "matches",
    "method_text",
    "sans_text",
    "short_path",
    "sort_value",
    "state_counts",
    "state_label",
    "state_text",
    "utc_now",
]

S = IssueState
Now = Callable[[], datetime]
# The order list holds summaries; the detail pane full orders. Both have what is used here.
Listed = Order | OrderSummary

STATE_STYLE: dict[IssueState, str] = {
    S.IssStateNone: "dim",
    S.IssStateAccount: "dim",
    S.IssStateChecked: "cyan",
    S.IssStateChallgReq: "yellow",
    S.IssStateChallgWaitTest: "yellow",
    S.IssStateChallgTest: "yellow",
    S.IssStateChallgPend: "yellow",
    S.IssStateChallgOK: "bold yellow",
    S.IssStateCollect: "green",
    S.IssStateInstall: "bold green",
    S.IssStateCancel: "magenta",
}
# Short enough for the 80-column table; ICS's own words otherwise.
_SHORT = {S.IssStateChallgReq: "Challg Req", S.IssStateChallgPend: "Challg Pend"}


def _known_errors() -> tuple[type[BaseException], ...]:
    """Errors whose text is meant for a person; anything else is a bug worth a traceback."""
    from engine.crypto.keys import CryptoError
    from engine.icsdb import IcsDbError
    from engine.lock import LockedError
    from engine.names import NameError_
    from engine.states import InvalidTransition
    from engine.suppliers.base import SupplierError
    from engine.workflow import WorkflowError

    return (WorkflowError, SupplierError, InvalidTransition, NameError_, IcsDbError,
            LockedError, CryptoError, OSError, ValueError)  # fmt: skip


KNOWN_ERRORS = _known_errors()


def utc_now() -> datetime:
    return datetime.now(UTC)


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def is_revoked(order: Listed) -> bool:
    return order.issue_state == S.IssStateCancel and order.revoke_reason >= 0


def state_label(order: Listed) -> str:
    if is_revoked(order):
        return "Revoked"
    return _SHORT.get(order.issue_state, order.issue_state.display)


def state_text(order: Listed) -> Text:
    style = "bold red" if is_revoked(order) else STATE_STYLE.get(order.issue_state, "")
    if order.cert_errors and order.issue_state == S.IssStateNone:
        return Text("Failed", style="bold red")
    if order.chain_result == ChainResult.chainFail and order.issue_state in (
        S.IssStateCollect,
        S.IssStateInstall,
    ):
        # Collected, but the chain check failed: it will not be installed; say so in the list.
        return Text(state_label(order) + " !", style="bold red")
    return Text(state_label(order), style=style)


def days_left(order: Listed, now: datetime) -> int | None:
    if order.cert_not_after is None:
        return None
    return (_aware(order.cert_not_after) - _aware(now)).days


def expiry_text(order: Listed, now: datetime, renew_days: int = 30) -> Text:
    days = days_left(order, now)
    if days is None or order.cert_not_after is None:
        return Text("-", style="dim")
    style = "red" if days < 0 else "yellow" if days < renew_days else ""
    if is_revoked(order):
        style = "dim strike"
    return Text(f"{order.cert_not_after:%Y-%m-%d} {days}d", style=style)


def sans_text(order: Listed) -> str:
    return ", ".join(n for n in order.san_names if n != order.common_name) or "-"


def method_text(order: Listed) -> str:
    return friendly(order.challenge_type)


def haystack(order: Listed) -> str:
    """The text the filter searches: the names, the method, the state, the order number."""
    return " ".join(
        [*order.san_names, order.common_name, method_text(order), state_label(order),
         str(order.order_num or "")]
    ).lower()  # fmt: skip


def matches(order: Listed, needle: str, hay: str | None = None) -> bool:
    """Filter as you type: every word must appear in the CN, a SAN, the method or the state."""
    if not needle:
        return True
    if hay is None:
        hay = haystack(order)
    return all(word in hay for word in needle.lower().split())


def sort_value(column: str) -> Callable[[Listed], object]:
    """The sort key of a table column (states sort by their ICS ordinal)."""
    far = datetime.max.replace(tzinfo=UTC)
    keys: dict[str, Callable[[Listed], object]] = {
        "cn": lambda o: o.common_name,
        "sans": lambda o: sans_text(o),
        "method": lambda o: method_text(o),
        "state": lambda o: (int(o.issue_state), is_revoked(o)),
        "expires": lambda o: _aware(o.cert_not_after) if o.cert_not_after else far,
        "num": lambda o: o.order_num,
    }
    return keys.get(column, keys["cn"])


def state_counts(orders: Iterable[Listed]) -> Counter[str]:
    return Counter(state_label(o) for o in orders)


def level_style(level: int) -> str:
    if level >= logging.ERROR:
        return "bold red"
    if level >= logging.WARNING:
        return "yellow"
    if level < logging.INFO:
        return "dim"
    return ""


def short_path(path: str | Path, base: str | Path | None) -> str:
    """A path inside `base` (the account directory) is shown relative to it."""
    if not path:
        return "-"
    if base:
        try:
            return str(Path(path).relative_to(Path(base)))
        except ValueError:
            pass
    return str(path)
