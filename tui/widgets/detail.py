"""Every property of the selected order, grouped as ICS's tabs group them."""

from __future__ import annotations

from datetime import datetime

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static, TabbedContent, TabPane

from engine.events import DnsPropagation
from engine.model import Challenge, ChallengeType, CsrOrigin, Order
from engine.names import format_formats, friendly

from ..present import STATE_STYLE, Now, days_left, is_revoked, short_path, state_text, utc_now

__all__ = ["DetailPane"]

TABS = [("domain", "Domain"), ("admin", "Cert Admin"), ("challenges", "Challenges"),
        ("files", "Files"), ("chain", "Chain")]  # fmt: skip
REVOKE_REASONS = {0: "unspecified", 1: "key compromise", 3: "affiliation changed",
                  4: "superseded", 5: "cessation of operation"}  # fmt: skip


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else "-"


def _grid(rows: list[tuple[str, object]]) -> Table:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for label, value in rows:
        if value in ("", None, [], ()):
            continue
        grid.add_row(label, value if isinstance(value, Text) else str(value))
    return grid


def _method_settings(order: Order) -> list[tuple[str, object]]:
    t = order.challenge_type
    rows: list[tuple[str, object]] = []
    if t in (ChallengeType.ChallFileUNC,):
        rows.append(("Well-known dir", order.well_known_dir))
    if t == ChallengeType.ChallFileFtp:
        rows += [("FTP server", order.ftp_server), ("FTP user", order.ftp_user),
                 ("FTP dir", order.ftp_dir), ("FTPS", "yes" if order.ftp_tls else "no")]  # fmt: skip
    if t == ChallengeType.ChallFileSrv:
        rows.append(("HTTP listen", order.http_listen or "account default"))
    if t in (ChallengeType.ChallAlpnSrv, ChallengeType.ChallAlpnApp):
        rows.append(("ALPN listen", order.alpn_listen or "account default"))
    if t == ChallengeType.ChallAlpnUNC:
        rows.append(("ALPN dir", order.alpn_dir))
    if t == ChallengeType.ChallDnsAuto:
        rows += [("DNS server", order.dns_server), ("DNS zone", order.dns_zone or "from SOA"),
                 ("TSIG key", order.tsig_name), ("TSIG secret", "set" if order.tsig_secret else "")]  # fmt: skip
    if t.is_dns:
        rows += [("Check servers", ", ".join(order.dns_check_servers) or "zone's name servers"),
                 ("DNS timeout", f"{order.dns_timeout}s")]  # fmt: skip
    if t == ChallengeType.ChallManual:
        rows.append(("Instructions", order.manual_instructions))
    return rows


class DetailPane(VerticalScroll):
    """Shows one order; `show()` is called whenever it or its challenges change."""

    def __init__(self, *, now: Now = utc_now, **kwargs) -> None:
        super().__init__(**kwargs)
        self.now = now
        self.cn: str | None = None

    def compose(self) -> ComposeResult:
        yield Static("No order selected. Press n to add one.", id="detail-title")
        with TabbedContent(id="detail-tabs"):
            for key, title in TABS:
                with TabPane(title, id=f"tab-{key}"):
                    yield Static(id=f"detail-{key}")

    def show(
        self,
        order: Order | None,
        challenges: list[Challenge] | None = None,
        dns: dict[str, DnsPropagation] | None = None,
        directory: str | None = None,
    ) -> None:
        self.cn = order.common_name if order else None
        title = self.query_one("#detail-title", Static)
        if order is None:
            title.update("No order selected. Press n to add one.")
            for key, _ in TABS:
                self.query_one(f"#detail-{key}", Static).update("")
            return
        head = Text(order.common_name, style="bold")
        head.append("  ")
        head.append_text(state_text(order))
        if order.order_num:
            head.append(f"  order {order.order_num}, attempt {order.order_attempts}", style="dim")
        if order.cert_errors:
            head.append(f"\n{order.cert_errors}", style="bold red")
        title.update(head)
        parts = {
            "domain": self._domain(order),
            "admin": self._admin(order),
            "challenges": self._challenges(order, challenges or [], dns or {}),
            "files": self._files(order, directory),
            "chain": self._chain(order),
        }
        for key, renderable in parts.items():
            self.query_one(f"#detail-{key}", Static).update(renderable)

    def _domain(self, order: Order) -> RenderableType:
        csr = "from a CSR file" if order.csr_origin == CsrOrigin.CsrOriginFile else "made here"
        return _grid([
            ("Common name", order.common_name),
            ("Names", ", ".join(order.san_names)),
            ("Challenge", f"{friendly(order.challenge_type)} ({order.challenge_type.display})"),
            *_method_settings(order),
            ("Key", f"{friendly(order.key_type)}, {friendly(order.digest)}"),
            ("Key cipher", friendly(order.key_cipher)),
            ("Key password", "set" if order.key_password else ""),
            ("Formats", format_formats(order.out_formats)),
            ("CSR", csr),
            ("CSR file", order.old_csr_file if order.csr_origin == CsrOrigin.CsrOriginFile else ""),
            ("Validity", f"{order.validity_days} days"),
            ("Install dirs", "\n".join(order.pub_web_dirs)),
            ("Install cmd", order.install_command),
            ("Product", order.product),
        ])  # fmt: skip

    def _admin(self, order: Order) -> RenderableType:
        contact = " ".join(
            p for p in (order.contact_title, order.contact_first, order.contact_last) if p
        )
        grid = _grid([
            ("Organization", order.organization), ("Unit", order.org_unit),
            ("Locality", order.locality), ("State", order.subject_state),
            ("Country", order.country), ("Address", order.address),
            ("Post code", order.post_code), ("Contact", contact),
            ("E-mail", order.contact_email), ("Phone", order.phone),
            ("Approver", order.approver_email),
        ])  # fmt: skip
        return grid if grid.row_count else Text("No subject or contact details set.", style="dim")

    def _challenges(
        self, order: Order, challenges: list[Challenge], dns: dict[str, DnsPropagation]
    ) -> RenderableType:
        table = Table(box=None, padding=(0, 1), expand=True, show_edge=False)
        for column in ("Name", "State", "Result"):
            table.add_column(column, overflow="fold")
        by_name = {c.identifier: c for c in challenges}
        for san in order.sans:
            record = by_name.get(san.domain)
            state = record.issue_state if record else san.issue_state
            result = (record.valid_result if record else "") or san.valid_result
            extra = []
            if record and record.dns_value:
                extra.append(f"TXT {record.dns_value}")
            for name, progress in dns.items():
                if name.removeprefix("_acme-challenge.").rstrip(".") == san.domain.removeprefix(
                    "*."
                ):
                    extra.append(progress.describe())
            text = "\n".join([result, *extra]).strip() or "-"
            table.add_row(san.domain, Text(state.display, style=STATE_STYLE.get(state, "")), text)
        times = _grid([("Started", _when(order.challenges_start)),
                       ("Done", _when(order.challenges_done)),
                       ("Expires", _when(order.challenges_expire))])  # fmt: skip
        return Group(table, Text(""), times)

    def _files(self, order: Order, directory: str | None) -> RenderableType:
        rows = [
            ("Certificate", order.file_cert), ("Bundle", order.file_bundle),
            ("Private key", order.file_key), ("CSR", order.file_csr),
        ]  # fmt: skip
        grid = _grid([(label, short_path(path, directory)) for label, path in rows if path])
        installed = "\n".join(order.part_fname_server)
        if installed:
            grid.add_row("Installed", installed)
        return grid if grid.row_count else Text("No files written yet.", style="dim")

    def _chain(self, order: Order) -> RenderableType:
        days = days_left(order, self.now())
        until = f"{_when(order.cert_not_after)} UTC ({days} days left)" if days is not None else ""
        revoked = REVOKE_REASONS.get(order.revoke_reason, str(order.revoke_reason))
        grid = _grid([
            ("Chain check", order.chain_result.display if order.cert_not_after else ""),
            ("Subject", order.cert_cn), ("Names", order.cert_sans),
            ("Valid from", f"{_when(order.cert_not_before)} UTC" if order.cert_not_before else ""),
            ("Valid until", until), ("Collected", _when(order.certs_collected)
                                     if order.certs_collected else ""),
            ("Revoked", Text(revoked, style="bold red") if is_revoked(order) else ""),
        ])  # fmt: skip
        parts: list[RenderableType] = [grid] if grid.row_count else []
        if order.cert_chain_info:
            parts += [Text(""), Text(order.cert_chain_info)]
        return Group(*parts) if parts else Text("No certificate yet.", style="dim")
