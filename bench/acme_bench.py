"""How fast certdesk gets certificates from a local Pebble, side by side with certbot and lego.

    .venv/bin/python bench/acme_bench.py [--scenarios single,batch20,batch100,seq20]
        [--runs 3] [--peers certbot,lego] [--peer-scenarios single,seq20] [--peer-runs 1]
        [--full] [--inprocess-runs 1] [--concurrency N] [--profile SCENARIO]

Starts its own Pebble (no VA sleep, no nonce rejection, no authz reuse; tests/servers/pebble.py)
with its http-01 port left free for the clients' own responders, and times whole processes
from an account that is already registered:

  single    one EC P-256 certificate:       certdesk order a1 --wait
  batch20   20 certificates in one command: certdesk order a1 .. a20 --wait
  batch100  100 certificates in one command
  seq20     20 certificates, 20 commands one after another (what the peers' seq20 is)
  san10     one certificate with 10 names

Wall time and peak RSS come from wait4() of each child (seq20: the sum of the wall times
and the largest RSS). The in-process figure is the same command run through
engine.cli.main in this process, so interpreter start-up and imports are left out.
certbot (--standalone) and lego (--http) run the same scenarios against the same Pebble when
installed; they cannot order several certificates in one process, so their batch figure is
their seq figure. `--profile SCENARIO` runs it in-process under cProfile and prints the top.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.accounts import create_acme_account  # noqa: E402
from tests.servers.accounts import configure_account  # noqa: E402
from tests.servers.pebble import PebbleServer, start_pebble  # noqa: E402

CERTDESK = [str(ROOT / ".venv" / "bin" / "certdesk")]
if not Path(CERTDESK[0]).exists():
    CERTDESK = [sys.executable, "-m", "tui.launch"]

SCENARIOS = {  # name: (certificates, names per certificate, processes)
    "single": (1, 1, 1),
    "san10": (1, 10, 1),
    "batch20": (20, 1, 1),
    "batch100": (100, 1, 1),
    "seq20": (20, 1, 20),
    "seq100": (100, 1, 100),
}
# Issue 4's targets, whole process included: (wall seconds, peak RSS MiB or None).
TARGETS = {"single": (1.0, None), "batch20": (2.0, None), "batch100": (10.0, 150.0)}
# What a peer runs for a certdesk scenario: it has no way to order several in one process.
PEER_EQUIVALENT = {"batch20": "seq20", "batch100": "seq100"}
RUN_TIMEOUT = 900.0


@dataclass
class Sample:
    wall: float
    rss_mib: float
    cpu: float
    ok: bool
    note: str = ""


@dataclass
class Result:
    client: str
    scenario: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def good(self) -> list[Sample]:
        return [s for s in self.samples if s.ok]

    def median(self, attr: str) -> float | None:
        good = self.good
        return statistics.median(getattr(s, attr) for s in good) if good else None


# -- running and measuring one child ----------------------------------------------------


# The child is started by a small `python -S` that forks and execs it and reports its wait4()
# figures: Linux carries the RSS high-water mark across exec, so a child forked straight from
# this (large) process would report this process's RSS, not its own.
_WRAP = """import os, sys, time
out, argv = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(out, "w") as f:
    f.write(f"{wall} {ru.ru_maxrss} {ru.ru_utime + ru.ru_stime} {os.waitstatus_to_exitcode(status)}")
"""


def timed(argv: list[str], *, env: dict[str, str], cwd: Path, log: Path) -> Sample:
    """Run one process: its wall time, peak RSS and CPU (wait4), exit code."""
    figures = log.with_suffix(".wait4")
    with open(log, "ab") as out:
        proc = subprocess.run([sys.executable, "-S", "-c", _WRAP, str(figures), *argv],
                              env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                              stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT)  # fmt: skip
    try:
        wall, rss_kib, cpu, rc = figures.read_text().split()
    except (OSError, ValueError):
        return Sample(0.0, 0.0, 0.0, ok=False, note=f"no figures (exit {proc.returncode}), {log}")
    return Sample(
        wall=float(wall),
        rss_mib=int(rss_kib) / 1024,  # KiB on Linux
        cpu=float(cpu),
        ok=rc == "0",
        note="" if rc == "0" else f"exit {rc}, see {log}",
    )


def combine(samples: list[Sample]) -> Sample:
    """Sequential processes: wall and CPU add up, the peak RSS is the largest one."""
    bad = [s.note for s in samples if not s.ok]
    return Sample(wall=sum(s.wall for s in samples), rss_mib=max(s.rss_mib for s in samples),
                  cpu=sum(s.cpu for s in samples), ok=not bad, note=bad[0] if bad else "")  # fmt: skip


def names(tag: str, count: int) -> list[str]:
    # Fresh names for every run: no once-a-day guard, no "not due for renewal".
    return [f"a{i}.{tag}.example.test" for i in range(1, count + 1)]


def wait_port_free(port: int, deadline: float = 10.0) -> None:
    """certbot's and lego's servers may linger for a moment after exit."""
    import socket

    end = time.monotonic() + deadline
    while time.monotonic() < end:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
                return
            except OSError:
                time.sleep(0.05)


# -- certdesk -----------------------------------------------------------------------------


class Certdesk:
    name = "certdesk"

    def __init__(self, pebble: PebbleServer, work: Path) -> None:
        self.pebble = pebble
        self.work = work
        self.home = work / "certdesk-home"
        self.env = {**os.environ, "CERTDESK_HOME": str(self.home)}
        os.environ["CERTDESK_HOME"] = str(self.home)  # for the in-process runs too
        self.concurrency = 0
        self.roots = work / "pebble-roots.pem"
        self.roots.write_bytes(b"".join(pebble.root_pems()))

    def version(self) -> str:
        from importlib.metadata import PackageNotFoundError, version

        with contextlib.suppress(PackageNotFoundError):
            return f"certdesk {version('certdesk')}, Python {sys.version.split()[0]}"
        return f"certdesk (source), Python {sys.version.split()[0]}"

    def account(self, tag: str, cns: list[str], per_cert: int) -> Path:
        """A registered account with one order per CN, as `certdesk domain set` makes them."""
        from engine.cli import main as cli_main

        directory = asyncio.run(
            create_acme_account(self.pebble.directory_url, self.work / f"acct-{tag}",
                                email="bench@example.test", ca_bundle=str(self.pebble.ca_bundle))
        )  # fmt: skip
        configure_account(
            directory,
            trust_roots=str(self.roots),
            resolver=f"127.0.0.1:{self.pebble.dns_port}",
            validation_http_port=self.pebble.http_port,
            **({"concurrency": self.concurrency} if self.concurrency else {}),
        )
        listen = f"127.0.0.1:{self.pebble.http_port}"
        for cn in cns:
            sans = [f"s{i}.{cn}" for i in range(1, per_cert)]
            argv = ["-q", "domain", "set", cn, "--challenge", "file-srv", "--http-listen", listen,
                    "--key-type", "ec256", "-a", str(directory)]  # fmt: skip
            for san in sans:
                argv += ["--san", san]
            if sans:
                argv += ["--san", cn]
            quiet = io.StringIO()
            with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
                if cli_main(argv) != 0:
                    raise RuntimeError(f"certdesk domain set {cn} failed")
        return directory

    def collected(self, directory: Path) -> int:
        from engine.icsdb import AccountDB
        from engine.model import IssueState

        with AccountDB.open(directory, writable=False) as db:
            return sum(o.issue_state == IssueState.IssStateCollect for o in db.orders())

    def measure(self, scenario: str, tag: str) -> Sample:
        certs, per_cert, procs = SCENARIOS[scenario]
        cns = names(tag, certs)
        directory = self.account(tag, cns, per_cert)
        log = self.work / f"certdesk-{tag}.log"
        groups = [cns] if procs == 1 else [[cn] for cn in cns]
        samples = []
        for group in groups:
            argv = [*CERTDESK, "-q", "order", *group, "--wait", "--timeout", "300",
                    "-a", str(directory)]  # fmt: skip
            samples.append(timed(argv, env=self.env, cwd=self.work, log=log))
            if not samples[-1].ok:
                break
        return self._checked(combine(samples), directory, certs)

    def measure_inprocess(self, scenario: str, tag: str, profile: cProfile.Profile | None = None):
        from engine.cli import main as cli_main

        certs, per_cert, _ = SCENARIOS[scenario]
        cns = names(tag, certs)
        directory = self.account(tag, cns, per_cert)
        argv = ["-q", "order", *cns, "--wait", "--timeout", "300", "-a", str(directory)]
        with contextlib.redirect_stdout(io.StringIO()):
            start = time.perf_counter()
            if profile is not None:
                profile.enable()
            rc = cli_main(argv)
            if profile is not None:
                profile.disable()
            wall = time.perf_counter() - start
        sample = Sample(wall=wall, rss_mib=0.0, cpu=0.0, ok=rc == 0, note=f"exit {rc}")
        return self._checked(sample, directory, certs)

    def _checked(self, sample: Sample, directory: Path, certs: int) -> Sample:
        got = self.collected(directory)
        if got != certs:
            sample.ok = False
            sample.note = f"{got}/{certs} collected ({directory}); " + sample.note
        return sample


# -- peers --------------------------------------------------------------------------------


class Peer:
    """An installed ACME client run the way /work/shared/peer-bench/peers.sh runs it."""

    name = ""

    def __init__(self, pebble: PebbleServer, work: Path) -> None:
        self.pebble = pebble
        self.work = work
        self.state = work / self.name  # one registered account, kept for every run
        self.env = {**os.environ, **self.ca_env(str(pebble.ca_bundle))}
        self.registered = False

    @classmethod
    def installed(cls) -> bool:
        return shutil.which(cls.name) is not None

    def ca_env(self, bundle: str) -> dict[str, str]:
        raise NotImplementedError

    def command(self, cns: list[str]) -> list[str]:
        raise NotImplementedError

    def count(self) -> int:
        raise NotImplementedError

    def version(self) -> str:
        out = subprocess.run([self.name, "--version"], capture_output=True, text=True)
        return (out.stdout or out.stderr).strip().splitlines()[-1]

    def register(self) -> None:
        """Untimed: one first order, which registers the account (both clients do it so)."""
        if not self.registered:
            sample = self.run_one(names(f"{self.name}-warmup", 1))
            if not sample.ok:
                raise RuntimeError(f"{self.name} could not get a first certificate: {sample.note}")
            self.registered = True

    def run_one(self, cns: list[str]) -> Sample:
        wait_port_free(self.pebble.http_port)
        log = self.work / f"{self.name}.log"
        return timed(self.command(cns), env=self.env, cwd=self.work, log=log)

    def measure(self, scenario: str, tag: str) -> Sample:
        self.register()
        certs, per_cert, _ = SCENARIOS[PEER_EQUIVALENT.get(scenario, scenario)]
        cns = names(tag, certs)
        before = self.count()
        samples = []
        if per_cert > 1:
            samples.append(self.run_one([cns[0], *(f"s{i}.{cns[0]}" for i in range(1, per_cert))]))
        else:
            for cn in cns:
                samples.append(self.run_one([cn]))
                if not samples[-1].ok:
                    break
        sample = combine(samples)
        got = self.count() - before
        if got != certs:
            sample.ok = False
            sample.note = f"{got}/{certs} certificates; " + sample.note
        return sample


class Certbot(Peer):
    name = "certbot"

    def ca_env(self, bundle: str) -> dict[str, str]:
        return {"REQUESTS_CA_BUNDLE": bundle}

    def command(self, cns: list[str]) -> list[str]:
        s = str(self.state)
        argv = ["certbot", "certonly", "--standalone", "--preferred-challenges", "http-01",
                "--http-01-port", str(self.pebble.http_port), "--http-01-address", "127.0.0.1",
                "--server", self.pebble.directory_url, "--config-dir", f"{s}/etc",
                "--work-dir", f"{s}/work", "--logs-dir", f"{s}/logs", "--non-interactive",
                "--agree-tos", "--register-unsafely-without-email",
                "--key-type", "ecdsa", "--elliptic-curve", "secp256r1"]  # fmt: skip
        for cn in cns:
            argv += ["-d", cn]
        return argv

    def count(self) -> int:
        return len(list((self.state / "etc" / "live").glob("*/cert.pem")))


class Lego(Peer):
    name = "lego"

    def ca_env(self, bundle: str) -> dict[str, str]:
        return {"LEGO_CA_CERTIFICATES": bundle}

    def version(self) -> str:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "lego"],
                             capture_output=True, text=True)  # fmt: skip
        return f"lego {out.stdout.strip() or '?'} (Debian)"

    def command(self, cns: list[str]) -> list[str]:
        argv = ["lego", "--server", self.pebble.directory_url, "--accept-tos",
                "--email", "bench@example.test", "--path", str(self.state / "lego"),
                "--key-type", "ec256", "--http", "--http.port",
                f"127.0.0.1:{self.pebble.http_port}"]  # fmt: skip
        for cn in cns:
            argv += ["-d", cn]
        return [*argv, "run"]

    def count(self) -> int:
        found = (self.state / "lego" / "certificates").glob("*.crt")
        return sum(not p.name.endswith(".issuer.crt") for p in found)


PEERS = {"certbot": Certbot, "lego": Lego}


# -- the run --------------------------------------------------------------------------------


def fmt_wall(result: Result | None) -> str:
    if result is None or not result.samples:
        return "-"
    good = result.good
    if not good:
        return "FAILED"
    walls = [s.wall for s in good]
    text = f"{statistics.median(walls):.2f}"
    if len(walls) > 1:
        text += f" ({min(walls):.2f}-{max(walls):.2f})"
    if len(good) < len(result.samples):
        text += f" [{len(good)}/{len(result.samples)} ok]"
    return text


def verdict(scenario: str, wall: float | None, rss: float | None) -> str:
    if scenario not in TARGETS:
        return ""
    limit, rss_limit = TARGETS[scenario]
    text = f"< {limit:g} s" + (f", < {rss_limit:g} MiB" if rss_limit else "")
    if wall is None:
        return f"{text}: not measured"
    met = wall < limit and (rss_limit is None or (rss or 0) < rss_limit)
    return f"{text}: {'met' if met else 'MISSED'}"


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def report(args, results: dict[tuple[str, str], Result], inproc: dict[str, Result],
           startup: Result, versions: list[str]) -> str:  # fmt: skip
    out = [f"# ACME benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, "
           f"load {os.getloadavg()[0]:.1f}", ""]  # fmt: skip
    out += [f"- {v}" for v in versions] + [""]
    rows = []
    for scen in args.scenarios:
        r = results.get(("certdesk", scen))
        wall, rss = (r.median("wall"), r.median("rss_mib")) if r else (None, None)
        certs = SCENARIOS[scen][0]
        rows.append([
            scen, str(certs), fmt_wall(r), f"{rss:.0f}" if rss else "-",
            f"{r.median('cpu'):.2f}" if r and r.good else "-",
            f"{wall / certs:.3f}" if wall else "-",
            fmt_wall(inproc.get(scen)), verdict(scen, wall, rss),
        ])  # fmt: skip
    out.append("certdesk, whole process (median wall s (min-max), peak RSS MiB, CPU s):")
    out.append(table(["scenario", "certs", "wall s", "RSS MiB", "CPU s", "s/cert",
                      "in-process s", "target"], rows))  # fmt: skip
    if startup.good:
        out.append(f"\nstart-up alone (`certdesk --help`, imports included): "
                   f"{fmt_wall(startup)} s, {startup.median('rss_mib'):.0f} MiB")  # fmt: skip

    peers = [p for p in args.peers if any(k[0] == p for k in results)]
    skipped = [p for p in args.peers_wanted if p not in args.peers]
    if skipped:
        out.append(f"\nskipped (not installed): {', '.join(skipped)}")
    if peers:
        headers = ["scenario", "certdesk s"]
        for p in peers:
            headers += [f"{p} s", f"{p} RSS", f"{p}/certdesk"]
        rows = []
        for scen in args.scenarios:
            mine = results.get(("certdesk", scen))
            theirs = {p: results.get((p, PEER_EQUIVALENT.get(scen, scen))) for p in peers}
            if not any(theirs.values()):
                continue
            label = scen + (f" (peers: {PEER_EQUIVALENT[scen]})" if scen in PEER_EQUIVALENT else "")
            row = [label, fmt_wall(mine)]
            for p in peers:
                r = theirs[p]
                ratio = "-"
                if r and r.good and mine and mine.good:
                    ratio = f"{r.median('wall') / mine.median('wall'):.1f}x"
                rss = f"{r.median('rss_mib'):.0f}" if r and r.good else "-"
                row += [fmt_wall(r), rss, ratio]
            rows.append(row)
        out.append("\nSide by side, same Pebble, same run (ratio = peer time / certdesk time):")
        out.append(table(headers, rows))
    failures = [
        f"{c}/{s}: {x.note}" for (c, s), r in results.items() for x in r.samples if not x.ok
    ]
    failures += [
        f"in-process/{s}: {x.note}" for s, r in inproc.items() for x in r.samples if not x.ok
    ]
    if failures:
        out.append("\nFailed runs:\n" + "\n".join(f"- {f}" for f in failures))
    return "\n".join(out) + "\n"


def profile(certdesk: Certdesk, scenario: str, top: int) -> None:
    prof = cProfile.Profile()
    sample = certdesk.measure_inprocess(scenario, f"profile-{scenario}", prof)
    print(
        f"in-process {scenario}: {sample.wall:.2f} s, ok={sample.ok} {sample.note if not sample.ok else ''}"
    )
    for key in ("cumulative", "tottime"):
        buffer = io.StringIO()
        pstats.Stats(prof, stream=buffer).strip_dirs().sort_stats(key).print_stats(top)
        print(buffer.getvalue())


def runs_for(args: argparse.Namespace, scenario: str) -> int:
    # Sequences of processes take long, and are there to compare with the peers: fewer runs.
    return args.peer_runs if scenario.startswith("seq") else args.runs


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    def listing(text: str) -> list[str]:
        items = [s for s in text.replace(" ", ",").split(",") if s]
        bad = [s for s in items if s not in SCENARIOS and s not in PEERS]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown: {', '.join(bad)}")
        return items

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", type=listing, default=None,
                        help="certdesk scenarios (default single,batch20,batch100,seq20; "
                             f"all: {','.join(SCENARIOS)})")  # fmt: skip
    parser.add_argument("--runs", type=int, default=3, help="runs per scenario (median)")
    parser.add_argument(
        "--peers",
        type=listing,
        default=["certbot", "lego"],
        help="peer clients to run when installed (default certbot,lego; '' none)",
    )
    parser.add_argument(
        "--peer-scenarios",
        type=listing,
        default=None,
        help="peer scenarios (default single,seq20; batchN runs as seqN)",
    )
    parser.add_argument(
        "--peer-runs",
        type=int,
        default=None,
        help="runs of the seq scenarios, certdesk and peers (default 1; --full: --runs)",
    )
    parser.add_argument(
        "--full", action="store_true", help="also san10, and the peers with --runs runs each"
    )
    parser.add_argument(
        "--inprocess-runs",
        type=int,
        default=1,
        help="in-process runs per scenario (default 1; 0 skips them)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=0,
        help="the account's concurrency (orders in flight; default: certdesk's 10)",
    )
    parser.add_argument(
        "--profile",
        metavar="SCENARIO",
        choices=sorted(SCENARIOS),
        help="only run SCENARIO in-process under cProfile and print the top",
    )
    parser.add_argument("--top", type=int, default=30, help="rows of the profile to print")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results",
                        help="where acme_bench.md goes (default bench/results)")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    full_extra = ["san10"] if args.full else []
    args.scenarios = args.scenarios or ["single", "batch20", "batch100", "seq20", *full_extra]
    args.peer_scenarios = args.peer_scenarios or ["single", "seq20", *full_extra]
    args.peer_runs = args.peer_runs or (args.runs if args.full else 1)
    args.peers_wanted = args.peers
    args.peers = [p for p in args.peers if PEERS[p].installed()]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="certdesk-bench-"))
    pebble = start_pebble(work / "pebble", challtestsrv_http=False, challtestsrv_tls=False)
    try:
        certdesk = Certdesk(pebble, work)
        certdesk.concurrency = args.concurrency
        if args.profile:
            profile(certdesk, args.profile, args.top)
            return 0
        results: dict[tuple[str, str], Result] = {}
        inproc: dict[str, Result] = {}

        def note(client: str, scen: str, run: int, sample: Sample) -> None:
            state = "ok" if sample.ok else f"FAILED: {sample.note}"
            print(f"  {client:9} {scen:9} run {run}: {sample.wall:7.2f} s "
                  f"{sample.rss_mib:6.0f} MiB  {state}", flush=True)  # fmt: skip

        startup = Result("certdesk", "startup")
        for _ in range(args.runs):
            startup.samples.append(timed([*CERTDESK, "--help"], env=certdesk.env, cwd=work,
                                         log=work / "startup.log"))  # fmt: skip
        for scen in args.scenarios:
            result = results.setdefault(("certdesk", scen), Result("certdesk", scen))
            # The seq rows are there to compare with the peers: as many runs as theirs.
            for run in range(1, runs_for(args, scen) + 1):
                result.samples.append(certdesk.measure(scen, f"cd-{scen}-r{run}"))
                note("certdesk", scen, run, result.samples[-1])
            if args.inprocess_runs and SCENARIOS[scen][2] == 1:
                ip = inproc.setdefault(scen, Result("in-process", scen))
                for run in range(1, args.inprocess_runs + 1):
                    ip.samples.append(certdesk.measure_inprocess(scen, f"ip-{scen}-r{run}"))
                    note("in-proc", scen, run, ip.samples[-1])

        peers = [PEERS[p](pebble, work) for p in args.peers]
        for peer in peers:
            try:
                peer.register()
            except RuntimeError as exc:
                print(f"  {peer.name}: skipped, {exc}")
                continue
            for scen in args.peer_scenarios:
                scen = PEER_EQUIVALENT.get(scen, scen)
                result = results.setdefault((peer.name, scen), Result(peer.name, scen))
                if result.samples:
                    continue
                for run in range(1, runs_for(args, scen) + 1):
                    result.samples.append(peer.measure(scen, f"{peer.name}-{scen}-r{run}"))
                    note(peer.name, scen, run, result.samples[-1])

        versions = [certdesk.version(), "pebble (Debian) via tests/servers/pebble.py: "
                    "PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0"]  # fmt: skip
        versions += [p.version() for p in peers]
        versions.append(f"runs: {args.runs} (seq rows {args.peer_runs}), in-process "
                        f"{args.inprocess_runs}; every client's account "
                        "registered before the clock starts (peers: by an untimed first order)")  # fmt: skip
        text = report(args, results, inproc, startup, versions)
        print("\n" + text)
        args.results.mkdir(parents=True, exist_ok=True)
        (args.results / "acme_bench.md").write_text(text)
        failed = any(not s.ok for r in results.values() for s in r.samples)
        return 1 if failed else 0
    finally:
        pebble.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work directory kept: {work}")


if __name__ == "__main__":
    sys.exit(main())
