"""The order list: one row per order, sorted and filtered here, marked for bulk actions.

A Line API widget (as Textual's `Log`): it draws only the rows on screen, so an account of
10,000 orders opens, filters and repaints in the time of the few dozen rows shown. Sorting
and filtering are plain list operations over the orders; a changed order re-renders one row.
"""

from __future__ import annotations

from collections import Counter

from rich.segment import Segment
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from engine.icsdb import OrderSummary

from ..present import (
    Now,
    expiry_text,
    haystack,
    matches,
    method_text,
    sans_text,
    sort_value,
    state_counts,
    state_label,
    state_text,
    utc_now,
)

__all__ = ["COLUMNS", "OrderTable", "column_widths"]

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
PADDING = 1  # blank cells either side of each column
_ROW_CACHE_LIMIT = 4096


def column_widths(total: int, padding: int = PADDING) -> dict[str, int]:
    """Widths that fill `total` cells (80 columns still show every column)."""
    fixed = sum(w for _, _, w in COLUMNS) + 2 * padding * len(COLUMNS) + 2  # + scrollbar
    free = max(total - fixed, MIN_CN + MIN_SANS)
    cn = max(MIN_CN, free * 3 // 5)
    widths = {key: width for key, _, width in COLUMNS}
    widths["cn"], widths["sans"] = cn, max(MIN_SANS, free - cn)
    return widths


class OrderTable(ScrollView, can_focus=True):
    """Orders of the open account. `orders` keeps every order; rows show the filtered ones.

    `space` marks the row under the cursor, `*` marks every shown row, `!` inverts the
    marks of the shown rows; actions apply to the marked orders, or to the cursor's.
    `s`/`S` (or a click on a heading) sort.
    """

    BINDINGS = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
        Binding("space", "toggle_mark", "Mark", show=True),
        Binding("asterisk", "mark_all", "Mark all", show=False),
        Binding("exclamation_mark", "invert_marks", "Invert marks", show=False),
        Binding("s", "sort_next", "Sort", show=False),
        Binding("S", "sort_reverse", "Reverse sort", show=False),
    ]

    COMPONENT_CLASSES = {
        "order-table--header",
        "order-table--even-row",
        "order-table--cursor",
    }

    DEFAULT_CSS = """
    OrderTable {
        background: $surface;
        color: $foreground;
        overflow-x: hidden;
        overflow-y: auto;
        & > .order-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .order-table--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .order-table--even-row {
            background: $surface-lighten-1 50%;
        }
        &:dark > .order-table--even-row {
            background: $surface-darken-1 40%;
        }
        & > .order-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus {
            background-tint: $foreground 5%;
            & > .order-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
        }
    }
    """

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
        super().__init__(**kwargs)
        self.now = now
        self.renew_days = 30
        self.orders: dict[str, OrderSummary] = {}
        self.marked: set[str] = set()
        self.filter_text = ""
        self.sort_column = "cn"
        self.sort_reversed = False
        self.shown: list[str] = []  # the rows, in order
        self._index: dict[str, int] = {}  # cn -> row
        self.cursor_row = 0
        self._widths = column_widths(80)
        self._rows: dict[str, Strip] = {}  # cn -> its unstyled row, as last drawn
        self._hay: dict[str, str] = {}  # cn -> what the filter searches in it
        self.counts: Counter[str] = Counter()  # orders by state label, kept as they change

    # -- the model

    def set_orders(self, orders: list[OrderSummary]) -> None:
        """Replace every order (an account was opened or its file changed)."""
        self.orders = {o.common_name: o for o in orders}
        self.marked &= self.orders.keys()
        self._hay.clear()
        self.counts = state_counts(self.orders.values())
        self._rebuild()

    def update_order(self, order: OrderSummary) -> None:
        """One order changed: only its row is drawn again, unless it moves or (dis)appears."""
        cn = order.common_name
        old = self.orders.get(cn)
        self.orders[cn] = order
        self._hay.pop(cn, None)
        if old is not None:
            self._count(old, -1)
        self._count(order, +1)
        was_shown = cn in self._index
        now_shown = self._matches(order, self.filter_text)
        key = sort_value(self.sort_column)
        if was_shown and now_shown and old is not None and key(old) == key(order):
            self._rows.pop(cn, None)
            self.refresh()
        elif was_shown or now_shown:
            self._rebuild()

    def remove_order(self, cn: str) -> None:
        old = self.orders.pop(cn, None)
        if old is not None:
            self._count(old, -1)
            self.marked.discard(cn)
            self._hay.pop(cn, None)
            self._rebuild()

    def _count(self, order: OrderSummary, change: int) -> None:
        label = state_label(order)
        self.counts[label] += change
        if self.counts[label] <= 0:
            del self.counts[label]  # no order is in that state any more

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
    def row_count(self) -> int:
        return len(self.shown)

    def is_valid_row_index(self, row: int) -> bool:
        return 0 <= row < len(self.shown)

    @property
    def current(self) -> str | None:
        if not self.is_valid_row_index(self.cursor_row):
            return None
        return self.shown[self.cursor_row]

    def targets(self) -> list[str]:
        """The marked orders in the order shown (hidden marked ones too), else the cursor's."""
        if self.marked:
            index = self._index
            return sorted(self.marked, key=lambda cn: (index.get(cn, len(index)), cn))
        current = self.current
        return [current] if current else []

    def mark(self, cns: set[str]) -> None:
        changed = self.marked ^ cns
        self.marked = set(cns) & self.orders.keys()
        for cn in changed:
            self._rows.pop(cn, None)
        self.refresh()
        self.post_message(self.MarksChanged(len(self.marked)))

    def get_cell(self, cn: str, column: str) -> Text:
        """What the row of `cn` shows in `column`."""
        cell = self._cells(self.orders[cn])[column]
        return cell if isinstance(cell, Text) else Text(cell)

    # -- the cursor

    def move_cursor(self, *, row: int, animate: bool = False) -> None:
        before = self.current
        self.cursor_row = max(0, min(row, len(self.shown) - 1))
        self._scroll_to_cursor(animate)
        self.refresh()
        if self.current != before:
            self.post_message(self.Highlighted(self.current))

    def _scroll_to_cursor(self, animate: bool = False) -> None:
        visible = max(1, self.scrollable_content_region.height - 1)  # less the heading
        top = round(self.scroll_y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=animate, immediate=not animate)
        elif self.cursor_row >= top + visible:
            y = self.cursor_row - visible + 1
            self.scroll_to(y=y, animate=animate, immediate=not animate)

    def action_cursor_up(self) -> None:
        self.move_cursor(row=self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(row=self.cursor_row + 1)

    def action_page_up(self) -> None:
        self.move_cursor(row=self.cursor_row - max(1, self.scrollable_content_region.height - 2))

    def action_page_down(self) -> None:
        self.move_cursor(row=self.cursor_row + max(1, self.scrollable_content_region.height - 2))

    def action_first(self) -> None:
        self.move_cursor(row=0)

    def action_last(self) -> None:
        self.move_cursor(row=len(self.shown) - 1)

    def action_toggle_mark(self) -> None:
        cn = self.current
        if cn is None:
            return
        self.mark(self.marked ^ {cn})
        if self.cursor_row < len(self.shown) - 1:
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

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:  # the heading: sort by the column clicked
            x = offset.x + round(self.scroll_x)
            for key, _, _ in COLUMNS:
                x -= self._widths[key] + 2 * PADDING
                if x < 0:
                    self.sort_by(key)
                    return
            return
        self.move_cursor(row=round(self.scroll_y) + offset.y - 1)

    # -- layout and drawing

    def on_resize(self) -> None:
        widths = column_widths(self.size.width)
        if widths != self._widths:
            self._widths = widths
            self._rows.clear()
        self._update_virtual_size()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._rows.clear()

    def _update_virtual_size(self) -> None:
        width = sum(w + 2 * PADDING for w in self._widths.values())
        self.virtual_size = Size(width, len(self.shown) + 1)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if y == 0:
            style = base + self.get_component_rich_style("order-table--header", partial=True)
            return self._heading().apply_style(style).adjust_cell_length(width, style)
        row = round(self.scroll_y) + y - 1
        if not self.is_valid_row_index(row):
            return Strip.blank(width, base)
        cn = self.shown[row]
        strip = self._rows.get(cn)
        if strip is None:
            if len(self._rows) > _ROW_CACHE_LIMIT:
                self._rows.clear()
            strip = self._rows[cn] = self._render_row(self.orders[cn])
        style = base
        if row % 2 == 0:
            style += self.get_component_rich_style("order-table--even-row", partial=True)
        strip = strip.apply_style(style)
        if row == self.cursor_row:
            cursor = self.get_component_rich_style("order-table--cursor", partial=True)
            strip = Strip(Segment.apply_style(strip, post_style=cursor), strip.cell_length)
            style += cursor
        return strip.adjust_cell_length(width, style)

    def _heading(self) -> Strip:
        arrow = " ▼" if self.sort_reversed else " ▲"
        line = Text(no_wrap=True)
        for key, label, _ in COLUMNS:
            self._append_cell(line, Text(label + (arrow if key == self.sort_column else "")), key)
        return Strip(line.render(self.app.console), line.cell_len)

    def _render_row(self, order: OrderSummary) -> Strip:
        line = Text(no_wrap=True)
        for key, cell in self._cells(order).items():
            self._append_cell(line, cell if isinstance(cell, Text) else Text(cell), key)
        return Strip(list(line.render(self.app.console)), line.cell_len)

    def _append_cell(self, line: Text, cell: Text, key: str) -> None:
        width = self._widths[key]
        cell = cell.copy()
        cell.no_wrap = True
        if cell.justify == "right" and cell.cell_len < width:
            cell.pad_left(width - cell.cell_len)
        cell.truncate(width, overflow="ellipsis", pad=True)
        pad = " " * PADDING
        line.append(pad)
        line.append_text(cell)
        line.append(pad)

    # -- rows

    def _keys(self) -> list[str]:
        return [key for key, _, _ in COLUMNS]

    def _label(self, key: str) -> str:
        return next(label for k, label, _ in COLUMNS if k == key)

    def _cn_cell(self, order: OrderSummary) -> Text:
        marked = order.common_name in self.marked
        text = Text(MARK if marked else " ", style="bold magenta")
        text.append(" ")
        text.append(order.common_name, style="bold" if marked else "")
        return text

    def _cells(self, order: OrderSummary) -> dict[str, Text | str]:
        return {
            "cn": self._cn_cell(order),
            "sans": sans_text(order),
            "method": method_text(order),
            "state": state_text(order),
            "expires": expiry_text(order, self.now(), self.renew_days),
            "num": Text(str(order.order_num or "-"), justify="right"),
        }

    def _matches(self, order: OrderSummary, needle: str) -> bool:
        if not needle:
            return True
        hay = self._hay.get(order.common_name)
        if hay is None:
            hay = self._hay[order.common_name] = haystack(order)
        return matches(order, needle, hay)

    def _rebuild(self) -> None:
        """Filter and sort again; the cursor stays on its order when that is still shown."""
        keep = self.current
        key = sort_value(self.sort_column)
        needle = self.filter_text
        orders = self.orders.values()
        shown = [o for o in orders if self._matches(o, needle)] if needle else list(orders)
        shown.sort(key=lambda o: (key(o), o.common_name), reverse=self.sort_reversed)
        self.shown = [o.common_name for o in shown]
        self._index = {cn: i for i, cn in enumerate(self.shown)}
        self._rows.clear()
        self._update_virtual_size()
        row = self._index.get(keep, 0) if keep is not None else 0
        self.cursor_row = max(0, min(row, len(self.shown) - 1))
        if self.is_mounted:
            self._scroll_to_cursor()
        self.refresh()
        self.post_message(self.Highlighted(self.current))
