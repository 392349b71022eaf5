"""A real Pebble ACME CA (Debian's 2.4) and pebble-challtestsrv on free loopback ports.

`pebble` is one CA per test session (per xdist worker); `pebble_factory(**options)` starts
one with a special configuration for a single test. Both are torn down at the end, and the
processes run in their own process group with a parent-death signal, so they die even when
pytest itself is killed.

Pebble resolves every name through challtestsrv's DNS, whose default A answer is 127.0.0.1:
http-01 and tls-alpn-01 validation connects to 127.0.0.1:`http_port` / `tls_port`. Those are
served by challtestsrv (answers set with `add_http01`, `add_tlsalpn01`) unless the factory is
told `challtestsrv_http=False` / `challtestsrv_tls=False`, which leaves the port free for
certdesk's own responders.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import datetime as dt
import hashlib
import ipaddress
import json
import os
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["PebbleServer", "start_pebble", "free_port", "PEBBLE", "CHALLTESTSRV"]

PEBBLE = "/usr/bin/pebble"
CHALLTESTSRV = "/usr/bin/pebble-challtestsrv"
START_TIMEOUT = 20.0

DEFAULT_ENV = {
    "PEBBLE_VA_NOSLEEP": "1",
    "PEBBLE_WFE_NONCEREJECT": "0",
    "PEBBLE_AUTHZREUSE": "0",
}


def free_port() -> int:
    """A port the OS just handed out on 127.0.0.1 (another process may take it before we
    bind it; `start_pebble` retries on a failed start)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PebbleServer:
    directory_url: str
    ca_bundle: Path  # PEM that trusts the ACME API's TLS certificate
    http_port: int  # where Pebble connects for http-01
    tls_port: int  # where Pebble connects for tls-alpn-01
    dns_port: int  # challtestsrv's DNS (0 when Pebble uses another DNS server)
    management_url: str  # Pebble's management API (https)
    challtestsrv_url: str  # challtestsrv's management API (http)
    workdir: Path
    options: dict = field(default_factory=dict)
    _procs: list[subprocess.Popen] = field(default_factory=list, repr=False)
    _http: httpx.Client | None = field(default=None, repr=False)

    @property
    def http(self) -> httpx.Client:
        # One kept-alive client: a new httpx.Client per call costs ~50 ms of TLS setup.
        if self._http is None:
            self._http = httpx.Client(verify=self.ssl_context(), timeout=10)
        return self._http

    # -- challtestsrv ---------------------------------------------------------------

    def _challtest(self, command: str, body: dict) -> None:
        response = self.http.post(f"{self.challtestsrv_url}/{command}", json=body)
        response.raise_for_status()

    def add_http01(self, token: str, content: str) -> None:
        self._challtest("add-http01", {"token": token, "content": content})

    def del_http01(self, token: str) -> None:
        self._challtest("del-http01", {"token": token})

    def set_txt(self, host: str, value: str) -> None:
        """`host` like `_acme-challenge.example.com` (the trailing dot is added)."""
        self._challtest("set-txt", {"host": _fqdn(host), "value": value})

    def clear_txt(self, host: str) -> None:
        self._challtest("clear-txt", {"host": _fqdn(host)})

    def add_tlsalpn01(self, host: str, keyauth: str) -> None:
        self._challtest("add-tlsalpn01", {"host": host, "content": keyauth})

    def answer(self, challenge_type: str, domain: str, token: str, key_authorization: str) -> None:
        """Put a challenge response in place in challtestsrv, whatever its type."""
        if challenge_type == "http-01":
            self.add_http01(token, key_authorization)
        elif challenge_type == "dns-01":
            digest = hashlib.sha256(key_authorization.encode("ascii")).digest()
            value = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
            self.set_txt(f"_acme-challenge.{domain}", value)
        elif challenge_type == "tls-alpn-01":
            self.add_tlsalpn01(domain, key_authorization)
        else:
            raise ValueError(f"challtestsrv cannot answer {challenge_type!r}")

    def add_a(self, host: str, addresses: list[str]) -> None:
        self._challtest("add-a", {"host": _fqdn(host), "addresses": addresses})

    def http_request_history(self, host: str) -> list[dict]:
        response = self.http.post(
            f"{self.challtestsrv_url}/http-request-history", json={"host": host}
        )
        response.raise_for_status()
        return response.json() or []

    # -- Pebble management ----------------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext:
        """Trusts Pebble's API and management certificate, and nothing else."""
        return ssl.create_default_context(cafile=str(self.ca_bundle))

    def _management(self, path: str) -> httpx.Response:
        return self.http.get(f"{self.management_url}{path}")

    def root_pems(self) -> list[bytes]:
        """Every root Pebble signs under (the default chain's first, then the alternates)."""
        roots = []
        index = 0
        while True:
            response = self._management(f"/roots/{index}")
            if response.status_code != 200:
                return roots
            roots.append(response.content)
            index += 1

    def intermediate_pem(self, index: int = 0) -> bytes:
        response = self._management(f"/intermediates/{index}")
        response.raise_for_status()
        return response.content

    def cert_status(self, serial: int) -> dict | None:
        """Pebble's record of a certificate: `{"Status": "Valid"|"Revoked", "Reason": ...}`."""
        response = self._management(f"/cert-status-by-serial/{serial:x}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    # -- lifecycle ------------------------------------------------------------------

    @property
    def log_text(self) -> str:
        parts = []
        for name in ("pebble.log", "challtestsrv.log"):
            path = self.workdir / name
            if path.exists():
                parts.append(f"== {name}\n{path.read_text(errors='replace')}")
        return "\n".join(parts)

    def stop(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
        for proc in self._procs:
            _kill(proc)
        self._procs.clear()


def _fqdn(host: str) -> str:
    return host if host.endswith(".") else host + "."


# -- the API's TLS certificate ---------------------------------------------------------


def _write_tls(workdir: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a localhost / 127.0.0.1 leaf for Pebble's API and management."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "certdesk test CA for Pebble")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = workdir / "api-ca.pem"
    cert_path = workdir / "api-cert.pem"
    key_path = workdir / "api-key.pem"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return ca_path, cert_path, key_path


# -- processes -------------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1


def _child_setup() -> None:
    # Runs in the child between fork and exec: die with the parent (Linux).
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _spawn(argv: list[str], log_path: Path, env: dict[str, str]) -> subprocess.Popen:
    log = open(log_path, "ab")  # noqa: SIM115 - the child owns it; closed below
    try:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own process group: killpg reaches everything
            preexec_fn=_child_setup,
        )
    finally:
        log.close()


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def _wait_listening(proc: subprocess.Popen, port: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.02)
    return False


def _wait_directory(proc: subprocess.Popen, url: str, ca_bundle: Path, deadline: float) -> bool:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with contextlib.suppress(httpx.HTTPError):
            if (
                httpx.get(
                    url, verify=ssl.create_default_context(cafile=str(ca_bundle)), timeout=1
                ).status_code
                == 200
            ):
                return True
        time.sleep(0.02)
    return False


def start_pebble(
    workdir: Path,
    *,
    env: dict[str, str] | None = None,
    strict: bool = False,
    eab_keys: dict[str, str] | None = None,
    dns_server: str | None = None,
    challtestsrv_http: bool = True,
    challtestsrv_tls: bool = True,
    validity_seconds: int | None = None,
    attempts: int = 3,
) -> PebbleServer:
    """Start challtestsrv and Pebble; return once Pebble's directory answers.

    env: PEBBLE_* variables on top of `DEFAULT_ENV` (no VA sleep, no nonce rejection, no
    authz reuse). eab_keys: `{kid: base64url HMAC key}`, making EAB required.
    dns_server: HOST:PORT Pebble resolves through instead of challtestsrv.
    validity_seconds: certificateValidityPeriod of issued certificates.
    """
    if not (os.access(PEBBLE, os.X_OK) and os.access(CHALLTESTSRV, os.X_OK)):
        pytest.skip(f"Debian's pebble is not installed ({PEBBLE}); `make debs` installs it")
    workdir.mkdir(parents=True, exist_ok=True)
    options = {
        "env": env or {},
        "strict": strict,
        "eab_keys": eab_keys,
        "dns_server": dns_server,
        "challtestsrv_http": challtestsrv_http,
        "challtestsrv_tls": challtestsrv_tls,
        "validity_seconds": validity_seconds,
    }
    ca_bundle, cert_path, key_path = _write_tls(workdir)
    last_error = ""
    for _ in range(attempts):
        server = _try_start(workdir, ca_bundle, cert_path, key_path, options)
        if isinstance(server, PebbleServer):
            return server
        last_error = server
    raise RuntimeError(f"Pebble did not start: {last_error}")


def _try_start(
    workdir: Path, ca_bundle: Path, cert_path: Path, key_path: Path, options: dict
) -> PebbleServer | str:
    acme_port, mgmt_port, http_port, tls_port = (free_port() for _ in range(4))
    dns_port, challtest_port = free_port(), free_port()
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{acme_port}",
            "managementListenAddress": f"127.0.0.1:{mgmt_port}",
            "certificate": str(cert_path),
            "privateKey": str(key_path),
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": bool(options["eab_keys"]),
        }
    }
    if options["eab_keys"]:
        config["pebble"]["externalAccountMACKeys"] = dict(options["eab_keys"])
    if options["validity_seconds"]:
        config["pebble"]["certificateValidityPeriod"] = int(options["validity_seconds"])
    config_path = workdir / "pebble-config.json"
    config_path.write_text(json.dumps(config, indent=2))

    base_env = {k: v for k, v in os.environ.items() if not k.startswith("PEBBLE_")}
    procs: list[subprocess.Popen] = []
    deadline = time.monotonic() + START_TIMEOUT

    def fail(why: str) -> str:
        for proc in procs:
            _kill(proc)
        logs = "".join(
            (workdir / n).read_text(errors="replace")[-2000:]
            for n in ("challtestsrv.log", "pebble.log")
            if (workdir / n).exists()
        )
        return f"{why}\n{logs}"

    argv = [
        CHALLTESTSRV,
        "-management",
        f"127.0.0.1:{challtest_port}",
        "-dns01",
        f"127.0.0.1:{dns_port}",
        "-http01",
        f"127.0.0.1:{http_port}" if options["challtestsrv_http"] else "",
        "-https01",
        "",
        "-tlsalpn01",
        f"127.0.0.1:{tls_port}" if options["challtestsrv_tls"] else "",
        "-defaultIPv4",
        "127.0.0.1",
        "-defaultIPv6",
        "",
    ]
    procs.append(_spawn(argv, workdir / "challtestsrv.log", base_env))
    if not _wait_listening(procs[0], challtest_port, deadline):
        return fail("pebble-challtestsrv did not start")

    pebble_env = {**base_env, **DEFAULT_ENV, **options["env"]}
    argv = [PEBBLE, "-config", str(config_path)]
    argv += ["-dnsserver", options["dns_server"] or f"127.0.0.1:{dns_port}"]
    if options["strict"]:
        argv.append("-strict")
    procs.append(_spawn(argv, workdir / "pebble.log", pebble_env))
    directory_url = f"https://127.0.0.1:{acme_port}/dir"
    if not _wait_directory(procs[1], directory_url, ca_bundle, deadline):
        return fail("Pebble's directory did not answer")
    if not _wait_listening(procs[1], mgmt_port, deadline):
        return fail("Pebble's management API did not answer")

    return PebbleServer(
        directory_url=directory_url,
        ca_bundle=ca_bundle,
        http_port=http_port,
        tls_port=tls_port,
        dns_port=0 if options["dns_server"] else dns_port,
        management_url=f"https://127.0.0.1:{mgmt_port}",
        challtestsrv_url=f"http://127.0.0.1:{challtest_port}",
        workdir=workdir,
        options=options,
        _procs=procs,
    )


# -- fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PebbleServer]:
    """One Pebble for the session (per xdist worker): no VA sleep, no nonce rejection,
    no authz reuse, challtestsrv answering http-01 and tls-alpn-01."""
    server = start_pebble(tmp_path_factory.mktemp("pebble"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pebble_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """`pebble_factory(**options)` starts a Pebble for this test (see `start_pebble`)."""
    started: list[PebbleServer] = []

    def factory(**options) -> PebbleServer:
        server = start_pebble(tmp_path_factory.mktemp("pebble"), **options)
        started.append(server)
        return server

    try:
        yield factory
    finally:
        for server in started:
            server.stop()
