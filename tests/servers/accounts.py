"""Ready-made account directories for tests: an Own CA, and ACME accounts against Pebble.

`acme_account(pebble, **settings)` registers a fresh ACME account with the given Pebble,
trusting only Pebble's TLS certificate and its issuing roots, with self-tests resolving
names through challtestsrv's DNS (which answers 127.0.0.1 for everything) and validating
on Pebble's http/tls ports, so built-in responders on those ports are what Pebble reaches.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.accounts import create_acme_account, create_ownca_account
from engine.icsdb import AccountDB
from engine.model import Order
from engine.workflow import normalise_order


@pytest.fixture(autouse=True)
def certdesk_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> Path:
    """Every test gets its own $CERTDESK_HOME, so none touches the user's."""
    home = tmp_path_factory.mktemp("certdesk-home")
    monkeypatch.setenv("CERTDESK_HOME", str(home))
    monkeypatch.delenv("CERTDESK_ACCOUNT", raising=False)
    return home


@pytest.fixture
def ownca_account(tmp_path: Path) -> Path:
    return create_ownca_account(tmp_path / "ownca", title="Test CA")


def add_order(directory: Path, cn: str, **fields) -> Order:
    """Add an order to an account directory, as `certdesk domain set` would."""
    with AccountDB.open(directory, writable=True) as db:
        order = normalise_order(Order(common_name=cn, **fields))
        db.put_order(order)
        db.save()
    return order


def configure_account(directory: Path, **fields) -> None:
    with AccountDB.open(directory, writable=True) as db:
        for name, value in fields.items():
            setattr(db.account, name, value)
        db.put_account(db.account)
        db.save()


@pytest.fixture
def acme_account(tmp_path: Path) -> Iterator:
    """`acme_account(pebble, name="acme", **account_fields) -> Path`."""
    counter = iter(range(1000))

    def make(pebble, name: str | None = None, **fields) -> Path:
        directory = tmp_path / (name or f"acme-{next(counter)}")
        directory = asyncio.run(
            create_acme_account(
                pebble.directory_url, directory, email="admin@example.com",
                ca_bundle=str(pebble.ca_bundle),
            )
        )  # fmt: skip
        roots = directory / "pebble-roots.pem"
        roots.write_bytes(b"".join(pebble.root_pems()))
        settings = {
            "trust_roots": str(roots),
            "resolver": f"127.0.0.1:{pebble.dns_port}" if pebble.dns_port else "",
            "validation_http_port": pebble.http_port,
            "validation_tls_port": pebble.tls_port,
            "http_listen": f"127.0.0.1:{pebble.http_port}",
            "alpn_listen": f"127.0.0.1:{pebble.tls_port}",
            "poll_interval": 1,
            **fields,
        }
        configure_account(directory, **settings)
        return directory

    yield make


def certdesk_env(home: Path) -> dict[str, str]:
    """The environment for running the real `certdesk` command in a child process."""
    return {**os.environ, "CERTDESK_HOME": str(home), "PYTHONUNBUFFERED": "1"}
