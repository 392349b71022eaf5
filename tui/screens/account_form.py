"""New account: ACME (with the well-known servers, a custom URL and EAB), Own CA create or
load, CertCentre (a placeholder until its supplier lands). Creation is the engine's."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from engine.accounts import ACME_PRESETS
from engine.names import KEY_TYPES

__all__ = ["KINDS", "AccountForm", "AccountSpec", "create_account"]

KINDS = [
    ("Own CA: create a new CA", "ownca"),
    ("Own CA: load an existing CA", "ownca-load"),
    ("ACME CA", "acme"),
    ("CertCentre (placeholder)", "certcentre"),
]
CUSTOM = "Custom URL"
KIND_FIELDS = {
    "ownca": ("root_name", "intermediate_name", "key_type", "validity", "password"),
    "ownca-load": ("cert_file", "key_file", "password"),
    "acme": ("preset", "server", "email", "ca_bundle", "eab_kid", "eab_hmac"),
    "certcentre": ("email",),
}
INPUTS = [
    ("server", "Server URL", "https://acme.example/directory"),
    ("email", "E-mail", "contact address for the CA"),
    ("ca_bundle", "CA bundle", "trust for the server's TLS (default: the system's)"),
    ("eab_kid", "EAB key id", "External Account Binding, from the CA"),
    ("eab_hmac", "EAB HMAC key", "base64url"),
    ("root_name", "Root name", "default: <title> Root"),
    ("intermediate_name", "Intermediate", "default: <title> Intermediate"),
    ("validity", "Validity days", "3650"),
    ("cert_file", "CA certificate", "PEM (may hold the key too)"),
    ("key_file", "CA key", ""),
    ("password", "Key password", "encrypts the CA keys (optional)"),
]


@dataclass
class AccountSpec:
    kind: str
    title: str = ""
    directory: str = ""
    server: str = ""
    email: str = ""
    ca_bundle: str = ""
    eab_kid: str = ""
    eab_hmac: str = ""
    root_name: str = ""
    intermediate_name: str = ""
    key_type: str = "ec384"
    validity: int = 3650
    cert_file: str = ""
    key_file: str = ""
    password: str = ""


async def create_account(spec: AccountSpec) -> Path:
    """Make the account the form describes (ACME registers with the CA)."""
    from engine import accounts
    from engine.model import SupplierProto
    from engine.names import parse_friendly

    directory = Path(spec.directory).expanduser() if spec.directory else None
    title = spec.title
    if spec.kind == "ownca":
        return accounts.create_ownca_account(
            directory, title=title or "Own CA", root_name=spec.root_name,
            intermediate_name=spec.intermediate_name, validity_days=spec.validity,
            key_type=parse_friendly(KEY_TYPES, spec.key_type, "key type"),
            password=spec.password or None,
        )  # fmt: skip
    if spec.kind == "ownca-load":
        return accounts.load_ownca_account(
            spec.cert_file, spec.key_file or None, spec.password or None, directory,
            title=title or "Own CA",
        )  # fmt: skip
    if spec.kind == "acme":
        return await accounts.create_acme_account(
            spec.server, directory, title=title, email=spec.email, ca_bundle=spec.ca_bundle,
            eab_kid=spec.eab_kid or None, eab_hmac=spec.eab_hmac or None,
        )  # fmt: skip
    return accounts.new_account(
        SupplierProto.SuppProtoCertCentre, directory, title=title, email=spec.email
    )


class AccountForm(ModalScreen[AccountSpec | None]):
    BINDINGS = [Binding("escape", "cancel", "Back"), Binding("ctrl+s", "save", "Create")]

    def __init__(self) -> None:
        super().__init__()
        self.error = ""

    def compose(self) -> ComposeResult:
        def row(label, widget, name):
            return Horizontal(Label(label, classes="field-label"), widget, classes="field",
                              id=f"row-{name}")  # fmt: skip

        presets = [(name, name) for name in ACME_PRESETS] + [(CUSTOM, CUSTOM)]
        with Vertical(classes="dialog form"):
            yield Label("New account", classes="dialog-title")
            with VerticalScroll():
                yield row(
                    "Supplier", Select(KINDS, value="ownca", allow_blank=False, id="kind"), "kind"
                )
                yield row("Title", Input(id="title", placeholder="a name for the account"), "title")
                yield row("Directory", Input(id="directory",
                          placeholder="default: under $CERTDESK_HOME/accounts"), "directory")  # fmt: skip
                yield row(
                    "Server",
                    Select(presets, value=CUSTOM, allow_blank=False, id="preset"),
                    "preset",
                )
                yield row("Key type", Select([(k, k) for k in KEY_TYPES], value="ec384",
                          allow_blank=False, id="key_type"), "key_type")  # fmt: skip
                for name, label, hint in INPUTS:
                    yield row(label, Input(id=name, placeholder=hint,
                              password=name in ("password", "eab_hmac")), name)  # fmt: skip
                yield Static(id="kind-note", classes="dialog-text")
            yield Static(id="form-error")
            with Horizontal(classes="buttons"):
                yield Button("Create (ctrl+s)", id="save", variant="primary")
                yield Button("Back (esc)", id="back")

    def on_mount(self) -> None:
        self._layout()
        self.validate()
        self.query_one("#kind", Select).focus()

    def _kind(self) -> str:
        return str(self.query_one("#kind", Select).value)

    def _value(self, name: str) -> str:
        return self.query_one(f"#{name}", Input).value.strip()

    def _layout(self) -> None:
        kind = self._kind()
        wanted = set(KIND_FIELDS[kind])
        for name in [*(n for n, *_ in INPUTS), "preset", "key_type"]:
            self.query_one(f"#row-{name}").display = name in wanted
        note = ""
        if kind == "certcentre":
            note = "CertCentre orders are not supported yet: the account is created, ordering waits for its supplier."
        elif kind == "acme":
            note = "The account is registered with the CA when it is created (needs the network)."
        self.query_one("#kind-note", Static).update(note)

    def build(self) -> AccountSpec:
        kind = self._kind()
        spec = AccountSpec(
            kind=kind, title=self._value("title"), directory=self._value("directory")
        )
        for name in KIND_FIELDS[kind]:
            if name in ("preset",):
                continue
            if name == "key_type":
                spec.key_type = str(self.query_one("#key_type", Select).value)
            elif name == "validity":
                text = self._value("validity") or "3650"
                if not text.isdigit() or int(text) < 2:
                    raise ValueError("validity days must be a whole number of at least 2")
                spec.validity = int(text)
            else:
                setattr(spec, name, self._value(name))
        if kind == "acme":
            preset = str(self.query_one("#preset", Select).value)
            needs_eab = preset != CUSTOM and ACME_PRESETS[preset][1]
            if not spec.server.startswith(("https://", "http://")):
                raise ValueError("the server URL must start with https://")
            if needs_eab and not (spec.eab_kid and spec.eab_hmac):
                raise ValueError(
                    f"{preset} needs External Account Binding: give the key id and HMAC key"
                )
            if bool(spec.eab_kid) != bool(spec.eab_hmac):
                raise ValueError("EAB needs both the key id and the HMAC key")
        if spec.email and "@" not in spec.email:
            raise ValueError(f"{spec.email!r} is not an e-mail address")
        if kind == "ownca-load" and not spec.cert_file:
            raise ValueError("give the CA certificate file to load")
        return spec

    def validate(self) -> AccountSpec | None:
        try:
            spec, self.error = self.build(), ""
        except ValueError as exc:
            spec, self.error = None, str(exc)
        error = self.query_one("#form-error", Static)
        error.update(f"⚠ {self.error}" if self.error else "")
        error.set_class(bool(self.error), "-error")
        self.query_one("#save", Button).disabled = spec is None
        return spec

    @on(Select.Changed)
    def _select(self, event: Select.Changed) -> None:
        if event.select.id == "kind":
            self._layout()
        if event.select.id == "preset" and event.value != CUSTOM:
            self.query_one("#server", Input).value = ACME_PRESETS[str(event.value)][0]
        self.validate()

    @on(Input.Changed)
    def _changed(self) -> None:
        self.validate()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.dismiss(None)

    def action_save(self) -> None:
        spec = self.validate()
        if spec is None:
            self.notify(self.error, severity="error")
            return
        self.dismiss(spec)

    def action_cancel(self) -> None:
        self.dismiss(None)
