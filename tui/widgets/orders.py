"""The order list: one row per order, sorted and filtered here, marked for bulk actions."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from engine.model import Order

from ..present import (
    Now,
    expiry_text,
    matches,
    method_text,
    sans_text,
    sort_value,
    state_text,
    utc_now,
)

__all__ = ["OrderTable"]

MARK = "●"
# (key, label, width); CN and SANs (width 0) share what the others leave, 3:2.
COLUMNS = [
    ("cn", "Common name", 0),
    ("sans", "SANs", 0),
    ("method", "Method", 9),
    ("state", "State", 11),
    ("expires", "Expires", 16),
    ("num", "Order", 5),
]
MIN_CN, MIN_SANS = 20, 6


def column_widths(total: int, padding: int = 1) -> dict[str, int]:
    """Widths that fill `total` cells (80 columns still show every column)."""
    fixed = sum(w for _, _, w in COLUMNS) + 2 * padding * len(COLUMNS) + 2  # + scrollbar
    free = max(total - fixed, MIN_CN + MIN_SANS)
    cn = max(MIN_CN, free * 3 // 5)
    widths = {key: width for key, _, width in COLUMNS}
    widths["cn"], widths["sans"] = cn, max(MIN_SANS, free - cn)
    return widths


class OrderTable(DataTable):
    """Orders of the open account. The table keeps every order; rows show the filtered ones.

    `space` marks the row under the cursor, `*` marks every shown row, `!` inverts the
    marks of the shown rows; actions apply to the marked orders, or to the cursor's.
    """

    BINDINGS = [
        Binding("space", "toggle_mark", "Mark", show=True),
        Binding("asterisk", "mark_all", "Mark all", show=False),
        Binding("exclamation_mark", "invert_marks", "Invert marks", show=False),
        Binding("s", "sort_next", "Sort", show=False),
        Binding("S", "sort_reverse", "Reverse sort", show=False),
    ]

    class Highlighted(Message):
        """The cursor is on another order (or on none)."""

        def __init__(self, cn: str | None) -> None:
            super().__init__()
            self.cn = cn

    class MarksChanged(Message):
        def __init__(self, count: int) -> None:
            super().__init__()
            self.count = count

    def __init__(self, *, now: Now = utc_now, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.now = now
        self.renew_days = 30
        self.orders: dict[str, Order] = {}
        self.marked: set[str] = set()
        self.filter_text = ""
        self.sort_column = "cn"
        self.sort_reversed = False
        self._width = 80
        self.shown: list[str] = []
        self._shown_set: set[str] = set()

    def on_mount(self) -> None:
        self._add_columns()

    def _add_columns(self) -> None:
        widths = column_widths(self._width)
        for key, label, _ in COLUMNS:
            self.add_column(label, width=widths[key], key=key)

    def on_resize(self) -> None:
        width = self.content_region.width or self.size.width
        if width and width != self._width:
            self._width = width
            self.clear(columns=True)
            self._add_columns()
            self._rebuild()

    # -- the model

    def set_orders(self, orders: list[Order]) -> None:
        """Replace every order (an account was opened or its file changed)."""
        self.orders = {o.common_name: o for o in orders}
        self.marked &= self.orders.keys()
        self._rebuild()

    def update_order(self, order: Order) -> None:
        """One order changed: its cells change in place when it stays where it is."""
        cn = order.common_name
        old = self.orders.get(cn)
        self.orders[cn] = order
        was_shown = cn in self._rows_shown
        now_shown = matches(order, self.filter_text)
        position_kept = old is not None and sort_value(self.sort_column)(old) == sort_value(
            self.sort_column
        )(order)
        if was_shown and now_shown and position_kept:
            for key, value in zip(self._keys(), self._cells(order), strict=True):
                self.update_cell(cn, key, value)
        elif was_shown or now_shown:
            self._rebuild()

    def remove_order(self, cn: str) -> None:
        if self.orders.pop(cn, None) is not None:
            self.marked.discard(cn)
            self._rebuild()

    def set_filter(self, text: str) -> None:
        self.filter_text = text.strip()
        self._rebuild()

    def sort_by(self, column: str, reverse: bool | None = None) -> None:
        if reverse is None:
            reverse = not self.sort_reversed if column == self.sort_column else False
        self.sort_column, self.sort_reversed = column, reverse
        self._rebuild()

    # -- what actions apply to

    @property
    def current(self) -> str | None:
        if not self.shown or not self.is_valid_row_index(self.cursor_row):
            return None
        return self.shown[self.cursor_row]

    def targets(self) -> list[str]:
        """The marked orders in the order shown (hidden marked ones too), else the cursor's."""
        if self.marked:
            order = {cn: i for i, cn in enumerate(self.shown)}
            return sorted(self.marked, key=lambda cn: (order.get(cn, len(order)), cn))
        current = self.current
        return [current] if current else []

    def mark(self, cns: set[str]) -> None:
        changed = (self.marked ^ cns) & self._rows_shown
        self.marked = set(cns) & self.orders.keys()
        for cn in changed:
            self.update_cell(cn, "cn", self._cn_cell(self.orders[cn]))
        self.post_message(self.MarksChanged(len(self.marked)))

    def action_toggle_mark(self) -> None:
        cn = self.current
        if cn is None:
            return
        self.mark(self.marked ^ {cn})
        if self.cursor_row < self.row_count - 1:
            self.move_cursor(row=self.cursor_row + 1)

    def action_mark_all(self) -> None:
        self.mark(self.marked | set(self.shown))

    def action_invert_marks(self) -> None:
        self.mark(self.marked ^ set(self.shown))

    def action_sort_next(self) -> None:
        keys = self._keys()
        self.sort_by(keys[(keys.index(self.sort_column) + 1) % len(keys)], reverse=False)
        self.notify(f"sorted by {self._label(self.sort_column)}", timeout=1.5)

    def action_sort_reverse(self) -> None:
        self.sort_by(self.sort_column, reverse=not self.sort_reversed)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.sort_by(str(event.column_key.value))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.post_message(self.Highlighted(self.current))

    # -- rows

    @property
    def _rows_shown(self) -> set[str]:
        return self._shown_set

    def _keys(self) -> list[str]:
        return [key for key, _, _ in COLUMNS]

    def _label(self, key: str) -> str:
        return next(label for k, label, _ in COLUMNS if k == key)

    def _cn_cell(self, order: Order) -> Text:
        marked = order.common_name in self.marked
        text = Text(MARK if marked else " ", style="bold magenta")
        text.append(" ")
        text.append(order.common_name, style="bold" if marked else "")
        return text

    def _cells(self, order: Order) -> list[object]:
        return [
            self._cn_cell(order),
            sans_text(order),
            method_text(order),
            state_text(order),
            expiry_text(order, self.now(), self.renew_days),
            Text(str(order.order_num or "-"), justify="right"),
        ]

    def _rebuild(self) -> None:
        if not self.columns:
            return
        keep = self.current
        key = sort_value(self.sort_column)
        needle = self.filter_text
        shown = [o for o in self.orders.values() if not needle or matches(o, needle)]
        shown.sort(key=lambda o: (key(o), o.common_name), reverse=self.sort_reversed)
        self.shown = [o.common_name for o in shown]
        self._shown_set = set(self.shown)
        self.clear()
        cells = self._cells
        add_row = self.add_row
        for order in shown:
            add_row(*cells(order), key=order.common_name)
        for column_key, column in self.columns.items():
            arrow = (" ▼" if self.sort_reversed else " ▲") if column_key == self.sort_column else ""
            column.label = Text(self._label(str(column_key.value)) + arrow)
        if keep in self.orders and keep in self.shown:
            self.move_cursor(row=self.shown.index(keep), animate=False)
        self.post_message(self.Highlighted(self.current))
