"""A real BIND 9 (Debian's /usr/sbin/named) as an authoritative server on a free loopback
port, with two zones open to TSIG-signed RFC 2136 updates.

Zones: `certdesk.test.` (names resolving to 127.0.0.1, a wildcard included, and
`_acme-challenge.alias.certdesk.test` CNAME into the second zone) and `delegated.test.`
(the target of that CNAME). Keys: `certdesk-key.` (hmac-sha256) and `certdesk-key512.`
(hmac-sha512), both allowed to update both zones.

`bind` is one server per session (per xdist worker); tests use fresh names (`unique()`)
so they do not see each other's records. `bind_factory()` starts another, independent
instance with the same zones (a second "authoritative server" for propagation tests).

The zones' NS record is `ns1.<zone>` with address 127.0.0.1, but the server listens on a
random port, not 53: an NS walk finds it, yet polling must name the server explicitly
(`dns_check_servers = [bind.address]`).
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.update
import pytest

from .pebble import _child_setup, _kill

__all__ = ["BindServer", "start_bind", "NAMED"]

NAMED = "/usr/sbin/named"
ZONES = ("certdesk.test.", "delegated.test.")
START_TIMEOUT = 15.0


@dataclass
class BindServer:
    host: str  # 127.0.0.1
    port: int  # UDP and TCP
    zones: tuple[str, ...]
    tsig_name: str  # hmac-sha256 key
    tsig_secret: str  # base64
    tsig_algorithm: str
    tsig512_name: str
    tsig512_secret: str
    workdir: Path
    _proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        """HOST:PORT, the form of `--dns-server`, `--dns-check-server` and `resolver`."""
        return f"{self.host}:{self.port}"

    @property
    def zone(self) -> str:
        return self.zones[0].rstrip(".")

    @property
    def delegated_zone(self) -> str:
        return self.zones[1].rstrip(".")

    def unique(self, label: str = "t") -> str:
        """A fresh name in the main zone, e.g. `t-3f9a1c.certdesk.test`."""
        return f"{label}-{secrets.token_hex(4)}.{self.zone}"

    def _key(self) -> dns.tsig.Key:
        return dns.tsig.Key(self.tsig_name, self.tsig_secret, self.tsig_algorithm)

    def _zone_of(self, name: str) -> str:
        fqdn = dns.name.from_text(name)
        for zone in self.zones:
            if fqdn.is_subdomain(dns.name.from_text(zone)):
                return zone
        raise ValueError(f"{name} is in none of {self.zones}")

    def update(self, name: str, rdtype: str, *values: str, ttl: int = 60, delete=False) -> None:
        """Add (or delete) records directly, as a person with nsupdate would."""
        message = dns.update.UpdateMessage(self._zone_of(name), keyring=self._key())
        for value in values:
            if delete:
                message.delete(dns.name.from_text(name), rdtype, value)
            else:
                message.add(dns.name.from_text(name), ttl, rdtype, value)
        response = dns.query.tcp(message, self.host, port=self.port, timeout=5)
        if response.rcode() != dns.rcode.NOERROR:
            raise RuntimeError(f"update of {name} refused: {dns.rcode.to_text(response.rcode())}")

    def add_txt(self, name: str, *values: str) -> None:
        self.update(name, "TXT", *(f'"{v}"' for v in values))

    def query(self, name: str, rdtype: str = "TXT") -> list[str]:
        """What this server answers, as text (TXT values without quotes)."""
        response = dns.query.tcp(
            dns.message.make_query(name, rdtype), self.host, port=self.port, timeout=5
        )
        found = []
        for rrset in response.answer:
            if rrset.rdtype != dns.rdatatype.from_text(rdtype):
                continue
            for rdata in rrset:
                if rrset.rdtype == dns.rdatatype.TXT:
                    found.append(b"".join(rdata.strings).decode())
                else:
                    found.append(rdata.to_text())
        return found

    def log_text(self) -> str:
        path = self.workdir / "named.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5)
            _kill(self._proc)
            self._proc = None


def _free_udp_tcp_port() -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port for BIND")


def _zone_text(zone: str) -> str:
    lines = [
        "$TTL 60",
        f"@ IN SOA ns1.{zone} hostmaster.{zone} 1 3600 600 86400 60",
        f"@ IN NS ns1.{zone}",
        "ns1 IN A 127.0.0.1",
        "@ IN A 127.0.0.1",
    ]
    if zone == "certdesk.test.":
        lines += [
            "www IN A 127.0.0.1",
            "* IN A 127.0.0.1",
            "_acme-challenge.alias IN CNAME alias-target.delegated.test.",
            "alias IN A 127.0.0.1",
        ]
    return "\n".join(lines) + "\n"


def _config(workdir: Path, port: int, keys: dict[str, tuple]) -> str:
    listen = f"    listen-on port {port} {{ 127.0.0.1; }};\n"
    key_text = "".join(
        f'key "{name}" {{ algorithm {alg}; secret "{secret}"; }};\n'
        for name, (alg, secret) in keys.items()
    )
    grants = " ".join(f"key {name};" for name in keys)
    zone_text = "".join(
        f'zone "{zone}" {{ type primary; file "{workdir / (zone + "zone")}"; '
        f"allow-update {{ {grants} }}; }};\n"
        for zone in ZONES
    )
    return (
        "options {\n"
        f'    directory "{workdir}";\n'
        f'    pid-file "{workdir / "named.pid"}";\n'
        f'    session-keyfile "{workdir / "session.key"}";\n'
        f'    managed-keys-directory "{workdir}";\n'
        f"{listen}"
        "    listen-on-v6 { none; };\n"
        "    recursion no;\n"
        "    allow-query { any; };\n"
        "    dnssec-validation no;\n"
        "    notify no;\n"
        "};\n"
        "controls { };\n"
        f"{key_text}{zone_text}"
    )


def _ready(host: str, port: int) -> bool:
    try:
        response = dns.query.udp(
            dns.message.make_query(ZONES[0], "SOA"), host, port=port, timeout=0.3
        )
    except Exception:
        return False
    return response.rcode() == dns.rcode.NOERROR and bool(response.answer)


def start_bind(workdir: Path) -> BindServer:
    if not Path(NAMED).exists():
        pytest.skip("BIND 9 (/usr/sbin/named) is not installed")
    last = ""
    for _attempt in range(3):
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        port = _free_udp_tcp_port()
        secret = base64.b64encode(secrets.token_bytes(32)).decode()
        secret512 = base64.b64encode(secrets.token_bytes(64)).decode()
        keys = {
            "certdesk-key.": ("hmac-sha256", secret),
            "certdesk-key512.": ("hmac-sha512", secret512),
        }
        for zone in ZONES:
            (workdir / f"{zone}zone").write_text(_zone_text(zone))
        conf = workdir / "named.conf"
        conf.write_text(_config(workdir, port, keys))
        log = open(workdir / "named.log", "ab")  # noqa: SIM115 - the child owns it
        try:
            proc = subprocess.Popen(
                [NAMED, "-g", "-n", "1", "-c", str(conf)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_child_setup,
            )
        finally:
            log.close()
        server = BindServer(
            host="127.0.0.1",
            port=port,
            zones=ZONES,
            tsig_name="certdesk-key.",
            tsig_secret=secret,
            tsig_algorithm="hmac-sha256",
            tsig512_name="certdesk-key512.",
            tsig512_secret=secret512,
            workdir=workdir,
            _proc=proc,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and proc.poll() is None:
            if _ready(server.host, port):
                return server
            time.sleep(0.05)
        last = server.log_text()[-2000:]
        server.stop()
    raise RuntimeError(f"BIND did not start:\n{last}")


@pytest.fixture(scope="session")
def bind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BindServer]:
    server = start_bind(tmp_path_factory.mktemp("bind") / "named")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def bind_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    started: list[BindServer] = []

    def factory() -> BindServer:
        server = start_bind(tmp_path_factory.mktemp("bind-extra") / "named")
        started.append(server)
        return server

    try:
        yield factory
    finally:
        for server in started:
            server.stop()
