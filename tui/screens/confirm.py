"""Confirmations and summaries: small modal screens that answer one question."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static

__all__ = [
    "REVOKE_REASONS",
    "ConfirmScreen",
    "OpenAccountScreen",
    "RevokeScreen",
    "SummaryScreen",
    "names_line",
]

# RFC 5280 CRLReason codes a subscriber may ask for.
REVOKE_REASONS = [
    (0, "unspecified"),
    (1, "key compromise: the private key is lost or exposed"),
    (3, "affiliation changed"),
    (4, "superseded by a new certificate"),
    (5, "cessation of operation: the site is gone"),
]
REVOKE_WARNING = (
    "Revoke is for key compromise: the certificate is listed as untrustworthy from now on "
    "and cannot be used again. If the certificate is simply no longer needed, cancel the "
    "order instead (x) or let it expire."
)


def names_line(cns: list[str], limit: int = 4) -> str:
    shown = ", ".join(cns[:limit])
    return shown + (f" and {len(cns) - limit} more" if len(cns) > limit else "")


class ConfirmScreen(ModalScreen[bool]):
    """Yes or no. `y`/enter confirms, `n`/escape declines."""

    BINDINGS = [
        Binding("escape,n", "answer(False)", "No"),
        Binding("y", "answer(True)", "Yes"),
    ]

    def __init__(self, title: str, message: str, confirm: str = "Yes", *, danger: bool = False):
        super().__init__()
        self.title_text, self.message, self.confirm, self.danger = title, message, confirm, danger

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.message, classes="dialog-text")
            with Horizontal(classes="buttons"):
                yield Button(
                    f"{self.confirm} (y)", id="yes", variant="error" if self.danger else "primary"
                )
                yield Button("No (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class RevokeScreen(ModalScreen[int | None]):
    """Choose the revocation reason; returns the CRLReason code, None when declined."""

    BINDINGS = [Binding("escape", "cancel", "Back")]

    def __init__(self, cns: list[str]) -> None:
        super().__init__()
        self.cns = cns

    def compose(self) -> ComposeResult:
        count = len(self.cns)
        with Vertical(classes="dialog"):
            yield Label(
                f"Revoke {count} certificate{'s' if count != 1 else ''}?", classes="dialog-title"
            )
            yield Static(names_line(self.cns), classes="dialog-names")
            yield Static(REVOKE_WARNING, classes="dialog-text")
            with RadioSet(id="reason"):
                for code, text in REVOKE_REASONS:
                    yield RadioButton(text, value=code == 0, name=str(code))
            with Horizontal(classes="buttons"):
                yield Button("Revoke", id="revoke", variant="error")
                yield Button("Back (esc)", id="back")

    def on_mount(self) -> None:
        self.query_one(RadioSet).focus()

    def reason(self) -> int:
        pressed = self.query_one(RadioSet).pressed_button
        return int(pressed.name) if pressed is not None and pressed.name else 0

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(self.reason() if event.button.id == "revoke" else None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class SummaryScreen(ModalScreen[None]):
    """What a bulk action did: the counts, and each failure with its reason."""

    BINDINGS = [Binding("escape,enter,q", "close", "Close")]

    def __init__(self, title: str, lines: list[str]) -> None:
        super().__init__()
        self.title_text, self.lines = title, lines

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static("\n".join(self.lines), classes="dialog-text", id="summary-lines")
            with Horizontal(classes="buttons"):
                yield Button("Close", id="close", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)


class OpenAccountScreen(ModalScreen[str | None]):
    """Ask for an account directory (one certdesk or ICS wrote)."""

    BINDINGS = [Binding("escape", "cancel", "Back")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Open an account directory", classes="dialog-title")
            yield Static("A directory holding ics-control.db, written by certdesk or ICS.",
                         classes="dialog-text")  # fmt: skip
            yield Input(placeholder="/path/to/account", id="directory")
            with Horizontal(classes="buttons"):
                yield Button("Open", id="open", variant="primary")
                yield Button("Back (esc)", id="back")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._done()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "open":
            self._done()
        else:
            self.dismiss(None)

    def _done(self) -> None:
        value = self.query_one("#directory", Input).value.strip()
        self.dismiss(value or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
