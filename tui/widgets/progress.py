"""The bulk-action bar: what runs, done and failed counts, and how to cancel it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar

__all__ = ["BulkBar"]


class BulkBar(Horizontal):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.title = ""
        self.total = self.done = self.failed = 0

    def compose(self) -> ComposeResult:
        yield Label(id="bulk-label")
        yield ProgressBar(id="bulk-progress", show_eta=False)

    def start(self, title: str, total: int) -> None:
        self.title, self.total, self.done, self.failed = title, total, 0, 0
        self.query_one(ProgressBar).update(total=total, progress=0)
        self._label()
        self.display = True

    def advance(self, ok: bool) -> None:
        if ok:
            self.done += 1
        else:
            self.failed += 1
        self.query_one(ProgressBar).advance(1)
        self._label()

    def finish(self) -> None:
        self.display = False

    def _label(self) -> None:
        self.query_one("#bulk-label", Label).update(
            f"{self.title}: {self.done} done, {self.failed} failed of {self.total} · esc cancels"
        )
