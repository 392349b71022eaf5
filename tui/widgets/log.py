"""The live log: the engine's events for the open account, filtered by level."""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime

from rich.text import Text
from textual.widgets import RichLog

from ..present import level_style

__all__ = ["LEVELS", "LogEntry", "LogPane"]

LEVELS = [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR]
KEEP = 5000


@dataclass(frozen=True)
class LogEntry:
    at: datetime
    level: int
    cn: str
    message: str

    def render(self) -> Text:
        style = level_style(self.level)
        text = Text(f"{self.at:%H:%M:%S} ", style="dim")
        if self.level >= logging.WARNING:
            text.append(f"{logging.getLevelName(self.level)} ", style=style)
        if self.cn:
            text.append(f"{self.cn}: ", style="bold")
        text.append(self.message, style=style)
        return text


class LogPane(RichLog):
    """Keeps the last entries so that changing the level shows the earlier ones again."""

    def __init__(self, **kwargs) -> None:
        super().__init__(wrap=True, markup=False, highlight=False, max_lines=KEEP, **kwargs)
        self.entries: deque[LogEntry] = deque(maxlen=KEEP)
        self.level = logging.INFO
        self.errors = 0

    def on_mount(self) -> None:
        self._retitle()

    def add(self, entry: LogEntry) -> None:
        self.entries.append(entry)
        if entry.level >= logging.ERROR:
            self.errors += 1
            self._retitle()
        if entry.level >= self.level:
            self.write(entry.render())

    def cycle_level(self) -> int:
        self.level = LEVELS[(LEVELS.index(self.level) + 1) % len(LEVELS)]
        self.clear()
        for entry in self.entries:
            if entry.level >= self.level:
                self.write(entry.render())
        self._retitle()
        return self.level

    def lines_text(self) -> list[str]:
        """What is shown, as plain text (tests and the bench read it)."""
        return [e.render().plain for e in self.entries if e.level >= self.level]

    def _retitle(self) -> None:
        name = logging.getLevelName(self.level).lower()
        errors = f" · {self.errors} error(s)" if self.errors else ""
        self.border_title = f"Log (level ≥ {name}, l changes){errors}"
