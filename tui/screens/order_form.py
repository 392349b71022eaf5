"""New or edit order: every setting of an order, checked by the engine as you type.

The form fills the same namespace `certdesk domain set` parses into, and lets
`engine.cli_settings.apply_domain_arguments`, `normalise_order` and `check_combination`
judge it, so the app and the command line accept and refuse the same orders.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Label, Select, Static, TabbedContent, TabPane

from engine.cli_settings import apply_domain_arguments
from engine.model import ChallengeType, CsrOrigin, Order, SupplierProto
from engine.names import (
    CHALLENGES,
    CIPHERS,
    DIGESTS,
    KEY_TYPES,
    SERIALS,
    NameError_,
    format_formats,
    friendly,
)
from engine.workflow import check_combination, normalise_order

__all__ = ["OrderForm", "OrderFormResult"]

C = ChallengeType
# Settings each challenge method needs; the others are hidden while it is chosen.
METHOD_FIELDS: dict[str, tuple[str, ...]] = {
    "file-dir": ("well_known_dir",),
    "file-ftp": ("ftp_server", "ftp_user", "ftp_password", "ftp_dir", "ftp_tls"),
    "file-srv": ("http_listen",),
    "alpn-srv": ("alpn_listen",),
    "alpn-dir": ("alpn_dir",),
    "dns-auto": ("dns_server", "dns_zone", "tsig_name", "tsig_secret", "tsig_algorithm",
                 "dns_check_server", "dns_timeout"),
    "dns-manual": ("dns_check_server", "dns_timeout"),
    "manual": ("manual_instructions",),
    "email": ("approver_email",),
}  # fmt: skip
METHOD_INPUTS = [
    ("well_known_dir", "Well-known dir", "/var/www/html/.well-known/"),
    ("ftp_server", "FTP server", "host[:port]"),
    ("ftp_user", "FTP user", ""),
    ("ftp_password", "FTP password", ""),
    ("ftp_dir", "FTP dir", "/htdocs"),
    ("http_listen", "HTTP listen", "0.0.0.0:80"),
    ("alpn_listen", "ALPN listen", "0.0.0.0:443"),
    ("alpn_dir", "ALPN dir", ""),
    ("dns_server", "DNS server", "host[:port] taking RFC 2136 updates"),
    ("dns_zone", "DNS zone", "found from the SOA"),
    ("tsig_name", "TSIG key name", ""),
    ("tsig_secret", "TSIG secret", "base64"),
    ("tsig_algorithm", "TSIG algorithm", "hmac-sha256"),
    ("dns_check_server", "Check servers", "host[:port], ... (default: the zone's)"),
    ("dns_timeout", "DNS timeout (s)", "600"),
    ("manual_instructions", "Instructions", "shown while a manual challenge waits"),
    ("approver_email", "Approver e-mail", ""),
]
ADMIN_INPUTS = [
    ("organization", "Organization"), ("org_unit", "Unit"), ("locality", "Locality"),
    ("subject_state", "State"), ("country", "Country"), ("address", "Address"),
    ("post_code", "Post code"), ("contact_title", "Contact title"),
    ("contact_first", "First name"), ("contact_last", "Last name"),
    ("contact_email", "Contact e-mail"), ("phone", "Phone"),
]  # fmt: skip
SECRET = {"ftp_password", "tsig_secret", "key_password"}
TEXT_FIELDS = [
    name for name, *_ in METHOD_INPUTS if name not in ("dns_check_server", "dns_timeout")
]
TEXT_FIELDS += [name for name, _ in ADMIN_INPUTS] + ["install_command"]


@dataclass
class OrderFormResult:
    order: Order
    is_new: bool


def _row(label: str, widget: Widget, *, id: str | None = None) -> Horizontal:
    return Horizontal(Label(label, classes="field-label"), widget, classes="field", id=id)


def _choices(table: dict) -> list[tuple[str, str]]:
    return [(name, name) for name in table]


def _split(text: str) -> list[str]:
    return [item.strip() for item in text.replace("\n", ",").split(",") if item.strip()]


class OrderForm(ModalScreen[OrderFormResult | None]):
    """ctrl+s saves (only while the engine accepts the order), escape goes back."""

    BINDINGS = [
        Binding("escape", "cancel", "Back"),
        Binding("ctrl+s", "save", "Save"),
    ]

    def __init__(
        self, order: Order | None, supplier: SupplierProto, existing: set[str] | None = None
    ) -> None:
        super().__init__()
        self.is_new = order is None
        default = C.ChallFileSrv if supplier == SupplierProto.SuppProtoAcmeV2 else C.ChallNone
        self.base = order or Order(common_name="", challenge_type=default)
        self.supplier = supplier
        self.existing = existing or set()
        self.result: Order | None = None
        self.error = ""

    # -- layout

    def compose(self) -> ComposeResult:
        o = self.base
        title = "New order" if self.is_new else f"Edit {o.common_name}"
        with Vertical(classes="dialog form"):
            yield Label(title, classes="dialog-title")
            with TabbedContent():
                with TabPane("Domain", id="form-domain"), VerticalScroll():
                    yield _row("Common name", Input(o.common_name, id="cn",
                               placeholder="www.example.com", disabled=not self.is_new))  # fmt: skip
                    sans = ", ".join(n for n in o.san_names if n != o.common_name)
                    yield _row(
                        "Other names", Input(sans, id="sans", placeholder="example.com, ...")
                    )
                    yield _row("Challenge", Select(_choices(CHALLENGES), value=friendly(o.challenge_type),
                               allow_blank=False, id="challenge_type"))  # fmt: skip
                    for name, label, hint in METHOD_INPUTS:
                        yield _row(label, Input(self._initial(name), id=name, placeholder=hint,
                                   password=name in SECRET), id=f"row-{name}")  # fmt: skip
                    yield _row(
                        "FTPS", Checkbox("explicit TLS", o.ftp_tls, id="ftp_tls"), id="row-ftp_tls"
                    )
                    yield _row("Key type", Select(_choices(KEY_TYPES), value=friendly(o.key_type),
                               allow_blank=False, id="key_type"))  # fmt: skip
                    yield _row("Digest", Select(_choices(DIGESTS), value=friendly(o.digest),
                               allow_blank=False, id="digest"))  # fmt: skip
                    yield _row("Key cipher", Select(_choices(CIPHERS), value=friendly(o.key_cipher),
                               allow_blank=False, id="key_cipher"))  # fmt: skip
                    yield _row("Serial", Select(_choices(SERIALS), value=friendly(o.serial_type),
                               allow_blank=False, id="serial_type"))  # fmt: skip
                    yield _row("Formats", Input(format_formats(o.out_formats), id="formats",
                               placeholder="sep, bundle, p12, p7, csr, pem-password, p12-password"))  # fmt: skip
                    yield _row(
                        "Key password", Input(o.key_password, id="key_password", password=True)
                    )
                    yield _row("Validity days", Input(str(o.validity_days), id="validity"))
                    yield _row("Install dirs", Input(", ".join(o.pub_web_dirs), id="pub_dir",
                               placeholder="web server certificate directories, comma separated"))  # fmt: skip
                    yield _row("Install cmd", Input(o.install_command, id="install_command",
                               placeholder="systemctl reload nginx"))  # fmt: skip
                    from_file = o.csr_origin == CsrOrigin.CsrOriginFile
                    yield _row("CSR file", Input(o.old_csr_file if from_file else "", id="csr",
                               placeholder="use an existing CSR (with its key)"))  # fmt: skip
                    yield _row("CSR key file", Input(o.old_key_file if from_file else "", id="key"))
                    yield Horizontal(Button("Check CSR", id="check-csr"), Static(id="csr-result"),
                                     classes="field")  # fmt: skip
                with TabPane("Cert Admin", id="form-admin"), VerticalScroll():
                    for name, label in ADMIN_INPUTS:
                        yield _row(label, Input(getattr(o, name), id=name))
            yield Static(id="form-error")
            with Horizontal(classes="buttons"):
                yield Button("Save (ctrl+s)", id="save", variant="primary")
                yield Button("Back (esc)", id="back")

    def _initial(self, name: str) -> str:
        if name == "dns_check_server":
            return ", ".join(self.base.dns_check_servers)
        if name == "dns_timeout":
            return str(self.base.dns_timeout)
        return str(getattr(self.base, name))

    def on_mount(self) -> None:
        self._show_method_fields()
        self.validate()
        self.query_one("#cn" if self.is_new else "#sans", Input).focus()

    def _show_method_fields(self) -> None:
        method = str(self.query_one("#challenge_type", Select).value)
        wanted = set(METHOD_FIELDS.get(method, ()))
        for name, *_ in [*METHOD_INPUTS, ("ftp_tls",)]:
            self.query_one(f"#row-{name}").display = name in wanted

    # -- validation

    def _value(self, name: str) -> str:
        return self.query_one(f"#{name}", Input).value.strip()

    def build(self) -> Order:
        """The order the form describes; raises NameError_ with the reason it is refused."""
        cn = self._value("cn")
        if not cn:
            raise NameError_("the common name is empty")
        if self.is_new and cn.lower() in self.existing:
            raise NameError_(f"{cn} already has an order in this account; edit it instead")
        args = argparse.Namespace(
            san=[cn, *_split(self._value("sans"))],
            formats=self._value("formats") or None,
            key_password=self.query_one("#key_password", Input).value,
            pub_dir=_split(self._value("pub_dir")),
            validity=self._int("validity", "validity days"),
            dns_check_server=_split(self._value("dns_check_server")),
            dns_timeout=self._int("dns_timeout", "DNS timeout"),
            ftp_tls=self.query_one("#ftp_tls", Checkbox).value,
            csr=self._value("csr") or None,
            key=self._value("key") or None,
        )
        for name in ("challenge_type", "key_type", "digest", "key_cipher", "serial_type"):
            setattr(args, name, str(self.query_one(f"#{name}", Select).value))
        for name in TEXT_FIELDS:
            setattr(args, name, self._value(name) if name not in SECRET else
                    self.query_one(f"#{name}", Input).value)  # fmt: skip
        base = self.base
        if args.csr is None and args.key is None and base.csr_origin == CsrOrigin.CsrOriginFile:
            base = replace(base, csr_origin=CsrOrigin.CsrOriginProps)
        order = apply_domain_arguments(replace(base, common_name=cn), args)
        order = normalise_order(order)
        check_combination(order, self.supplier)
        return order

    def _int(self, name: str, what: str) -> int | None:
        text = self._value(name)
        if not text:
            return None
        try:
            return int(text)
        except ValueError:
            raise NameError_(f"{what} must be a whole number, not {text!r}") from None

    def validate(self) -> bool:
        try:
            self.result, self.error = self.build(), ""
        except (NameError_, ValueError) as exc:
            self.result, self.error = None, str(exc)
        error = self.query_one("#form-error", Static)
        error.update(f"⚠ {self.error}" if self.error else "")
        error.set_class(bool(self.error), "-error")
        self.query_one("#save", Button).disabled = self.result is None
        return self.result is not None

    @on(Input.Changed)
    @on(Checkbox.Changed)
    def _changed(self) -> None:
        self.validate()

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "challenge_type":
            self._show_method_fields()
        self.validate()

    # -- actions

    def on_button_pressed(self, event: Button.Pressed) -> None:
        match event.button.id:
            case "save":
                self.action_save()
            case "back":
                self.dismiss(None)
            case "check-csr":
                self._check_csr()

    def _check_csr(self) -> None:
        from pathlib import Path

        from engine.crypto.csr import check_csr

        from ..present import KNOWN_ERRORS

        out = self.query_one("#csr-result", Static)
        try:
            info = check_csr(
                Path(self._value("csr")).expanduser().read_bytes(),
                Path(self._value("key")).expanduser().read_bytes(),
                self.query_one("#key_password", Input).value or None,
            )
        except KNOWN_ERRORS as exc:
            out.update(f"[red]{exc}[/]")
            return
        names = ", ".join(info.sans)
        out.update(f"[green]OK[/]: CN {info.cn}; names {names}; key {friendly(info.key_type)}")
        if self.is_new and not self._value("cn"):
            self.query_one("#cn", Input).value = info.cn

    def action_save(self) -> None:
        if self.validate() and self.result is not None:
            self.dismiss(OrderFormResult(self.result, self.is_new))
        else:
            self.notify(self.error or "the order is not valid", severity="error")

    def action_cancel(self) -> None:
        self.dismiss(None)
