"""`make demo`: a local Pebble ACME CA and an account against it, opened in the app.

Pebble and its DNS (challtestsrv) run on free loopback ports, as the tests start them;
every name resolves to 127.0.0.1, where the app's built-in http-01 server answers. Three
orders are ready to go: press `*` then `o` and watch the challenges in the log and the
Challenges tab. Everything lives in a temporary directory removed on exit.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path

DEMO_NAMES = ["demo1.example.test", "demo2.example.test", "www.demo3.example.test"]


async def prepare(
    directory_url: str, trust: Path, http_port: int, dns_port: int, home: Path
) -> Path:
    """An ACME account against the demo Pebble with the demo orders. `trust` holds Pebble's
    API certificate (for TLS) and its issuing roots (for the chain check after collection)."""
    from engine.accounts import create_acme_account
    from engine.icsdb import AccountDB
    from engine.model import ChallengeType, Order
    from engine.workflow import normalise_order

    directory = await create_acme_account(
        directory_url, home / "accounts" / "pebble", title="Pebble (local demo)",
        email="demo@example.test", ca_bundle=str(trust),
    )  # fmt: skip
    with AccountDB.open(directory) as db:
        # Self-tests resolve through challtestsrv and connect where Pebble connects.
        db.account.resolver = f"127.0.0.1:{dns_port}"
        db.account.validation_http_port = http_port
        db.account.trust_roots = str(trust)
        db.put_account(db.account)
        for cn in DEMO_NAMES:
            order = Order(common_name=cn, challenge_type=ChallengeType.ChallFileSrv,
                          http_listen=f"127.0.0.1:{http_port}")  # fmt: skip
            db.put_order(normalise_order(order))
        db.save()
    return directory


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    try:
        from tests.servers.pebble import start_pebble
    except ImportError as exc:
        print(f"certdesk demo: needs the test harness (make install): {exc}", file=sys.stderr)
        return 1
    from .app import run_app

    workdir = Path(tempfile.mkdtemp(prefix="certdesk-demo-"))
    home = workdir / "home"
    os.environ["CERTDESK_HOME"] = str(home)
    try:
        try:
            server = start_pebble(workdir / "pebble", challtestsrv_http=False)
        except BaseException as exc:  # pytest.skip when Pebble is missing is a BaseException
            print(f"certdesk demo: cannot start Pebble: {exc}", file=sys.stderr)
            return 1
        try:
            # One bundle trusting Pebble's API and its issuing roots, so the chain check passes.
            trust = workdir / "pebble-trust.pem"
            trust.write_bytes(server.ca_bundle.read_bytes() + b"".join(server.root_pems()))
            directory = asyncio.run(
                prepare(server.directory_url, trust, server.http_port, server.dns_port, home)
            )
            return run_app(str(directory))
        finally:
            server.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
