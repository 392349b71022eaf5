"""The Pebble harness options others rely on: a free http-01 port for certdesk's own
responder, another DNS server, certificate validity, and teardown."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from engine.model import ChallengeType
from engine.suppliers.acme import AcmeSupplier
from tests.test_acme_pebble import (
    challenge_for,
    issue,
    leaf,
    make_account,
    make_csr,
    make_order,
    unique,
)

pytestmark = pytest.mark.pebble


async def test_http_port_left_free_for_our_own_responder(pebble_factory, tmp_path):
    server = pebble_factory(challtestsrv_http=False)
    served: dict[str, str] = {}
    requested: list[str] = []

    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        path = request.split(b" ", 2)[1].decode()
        requested.append(path)
        body = served.get(path.rsplit("/", 1)[-1], "").encode()
        status = b"200 OK" if body else b"404 Not Found"
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        writer.close()

    # The port is ours to bind: challtestsrv is not on it.
    listener = await asyncio.start_server(respond, "127.0.0.1", server.http_port)
    supplier = AcmeSupplier(tmp_path / "acct")
    try:
        await supplier.open(make_account(server))
        name = unique("own")
        order = make_order([name])
        placed = await supplier.new_order(order)
        order.acme_order_url = placed.order_url
        (authz,) = placed.authorizations
        served[authz.token] = authz.key_authorization
        challenge = challenge_for(authz)
        await supplier.start_challenge(challenge)
        assert (await supplier.wait_challenge(challenge, timeout=60)).status == "valid"
        assert f"/.well-known/acme-challenge/{authz.token}" in requested
        assert (await supplier.wait_order(order, timeout=60)).status == "ready"
        csr, _key = make_csr([name])
        chain = await supplier.finalize(order, csr)
        assert chain.certificate_pem
    finally:
        listener.close()
        await listener.wait_closed()
        await supplier.aclose()


async def test_other_dns_server_and_validity(pebble, pebble_factory, tmp_path):
    # The second Pebble resolves through the first one's challtestsrv.
    server = pebble_factory(dns_server=f"127.0.0.1:{pebble.dns_port}", validity_seconds=86400)
    assert server.dns_port == 0
    supplier = AcmeSupplier(tmp_path / "acct")
    await supplier.open(make_account(server))
    try:
        name = unique("otherdns")
        order = make_order([name], ChallengeType.ChallDnsAuto)
        placed = await supplier.new_order(order)
        order.acme_order_url = placed.order_url
        (authz,) = placed.authorizations
        pebble.answer("dns-01", authz.domain, authz.token, authz.key_authorization)
        challenge = challenge_for(authz)
        await supplier.start_challenge(challenge)
        assert (await supplier.wait_challenge(challenge, timeout=60)).status == "valid"
        await supplier.wait_order(order, timeout=60)
        csr, _key = make_csr([name])
        cert = leaf(await supplier.finalize(order, csr))
        lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
        assert 0.9 <= lifetime.total_seconds() / 86400 <= 1.1
    finally:
        await supplier.aclose()


def test_stop_kills_the_processes(pebble_factory):
    server = pebble_factory()
    pids = [proc.pid for proc in server._procs]
    assert len(pids) == 2
    server.stop()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    with pytest.raises(ProcessLookupError):
        os.killpg(pids[0], signal.SIGKILL)


async def test_issue_helper_against_the_session_pebble(pebble, tmp_path):
    supplier = AcmeSupplier(tmp_path / "acct")
    await supplier.open(make_account(pebble))
    try:
        _order, chain, _key, _results = await issue(supplier, pebble, [unique("helper")])
        assert pebble.cert_status(leaf(chain).serial_number)["Status"] == "Valid"
        assert pebble.intermediate_pem(0).startswith(b"-----BEGIN CERTIFICATE-----")
    finally:
        await supplier.aclose()
