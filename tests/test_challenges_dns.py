"""dns-01 against a real BIND 9: RFC 2136 updates with TSIG (single name, wildcard + apex,
CNAME delegation, removal, bad keys), the propagation check, and DNS by hand with the
test playing the person."""

from __future__ import annotations

import asyncio
import base64
import secrets
import socket

import pytest

from engine.challenges import ResponderError, ResponderHost, responder_for
from engine.challenges.common import dns_txt_value
from engine.challenges.dns_check import (
    NameServer,
    authoritative_servers,
    find_zone,
    follow_cname,
    wait_for_txt,
)
from engine.challenges.selftest import make_resolver
from engine.events import DnsPropagation, Event, WaitingForPerson
from engine.model import Account, Challenge, ChallengeType, Order

pytestmark = pytest.mark.bind


def keyauth() -> str:
    return f"{secrets.token_urlsafe(32)}.{secrets.token_urlsafe(32)}"


def dns_order(bind, cn: str, **overrides) -> Order:
    values = dict(
        common_name=cn,
        challenge_type=ChallengeType.ChallDnsAuto,
        dns_server=bind.address,
        tsig_name=bind.tsig_name,
        tsig_secret=bind.tsig_secret,
        tsig_algorithm=bind.tsig_algorithm,
        dns_check_servers=[bind.address],
        dns_timeout=10,
    )
    values.update(overrides)
    return Order(**values)


def chall(domain: str, wildcard: bool = False) -> Challenge:
    return Challenge(domain=domain, wildcard=wildcard, key_authorization=keyauth())


async def test_rfc2136_single_name_add_check_remove(bind):
    name = bind.unique("www")
    order = dns_order(bind, name)
    account = Account(resolver=bind.address)
    events: list[Event] = []
    responder = responder_for(order, account, ResponderHost(), on_event=events.append)
    ch = chall(name)
    line = await responder.prepare(ch, order, account)
    record = f"_acme-challenge.{name}"
    assert ch.page == record
    assert ch.dns_value == dns_txt_value(ch.key_authorization)
    assert bind.query(record) == [ch.dns_value]
    assert bind.tsig_secret not in line and "certdesk.test" in line

    result = await responder.self_test(ch, order, account)
    assert result.ok, result.detail
    progress = [e for e in events if isinstance(e, DnsPropagation)]
    assert progress and progress[-1].ready == (bind.address,) and progress[-1].waiting == ()

    await responder.cleanup(ch, order, account)
    assert bind.query(record) == []


async def test_rfc2136_wildcard_and_apex_keep_both_values(bind):
    name = bind.unique("shop")
    order = dns_order(bind, name, san_names=[name, f"*.{name}"])
    account = Account(resolver=bind.address)
    responder = responder_for(order, account, ResponderHost())
    apex, wild = chall(name), chall(name, wildcard=True)
    await responder.prepare(apex, order, account)
    await responder.prepare(wild, order, account)
    record = f"_acme-challenge.{name}"
    assert apex.page == wild.page == record
    assert sorted(bind.query(record)) == sorted([apex.dns_value, wild.dns_value])
    assert (await responder.self_test(apex, order, account)).ok
    assert (await responder.self_test(wild, order, account)).ok

    # Removing the apex's value leaves the wildcard's in place: exactly our own value goes.
    await responder.cleanup(apex, order, account)
    assert bind.query(record) == [wild.dns_value]
    await responder.cleanup(wild, order, account)
    assert bind.query(record) == []


async def test_self_test_wants_every_value_at_the_name(bind):
    name = bind.unique("both")
    order = dns_order(bind, name, dns_timeout=0)
    account = Account(resolver=bind.address)
    responder = responder_for(order, account, ResponderHost())
    apex, wild = chall(name), chall(name, wildcard=True)
    await responder.prepare(apex, order, account)
    await responder.prepare(wild, order, account)
    bind.update(f"_acme-challenge.{name}", "TXT", f'"{wild.dns_value}"', delete=True)
    result = await responder.self_test(apex, order, account)
    assert not result.ok and result.waiting
    assert "0/1 name servers" in result.detail and "1 of 2 values missing" in result.detail
    await responder.cleanup(apex, order, account)


async def test_rfc2136_follows_a_cname_into_another_zone(bind):
    # certdesk.test has _acme-challenge.alias CNAME alias-target.delegated.test.
    name = f"alias.{bind.zone}"
    order = dns_order(bind, name)
    account = Account(resolver=bind.address)
    responder = responder_for(order, account, ResponderHost())
    ch = chall(name)
    line = await responder.prepare(ch, order, account)
    target = f"alias-target.{bind.delegated_zone}"
    assert f"CNAME from _acme-challenge.{name}" in line and bind.delegated_zone in line
    assert ch.dns_value in bind.query(target)
    assert (await responder.self_test(ch, order, account)).ok
    await responder.cleanup(ch, order, account)
    assert ch.dns_value not in bind.query(target)


async def test_rfc2136_with_hmac_sha512_and_explicit_zone(bind):
    name = bind.unique("k512")
    order = dns_order(
        bind,
        name,
        tsig_name=bind.tsig512_name,
        tsig_secret=bind.tsig512_secret,
        tsig_algorithm="hmac-sha512",
        dns_zone=bind.zone,
    )
    account = Account(resolver=bind.address)
    responder = responder_for(order, account, ResponderHost())
    ch = chall(name)
    await responder.prepare(ch, order, account)
    assert bind.query(f"_acme-challenge.{name}") == [ch.dns_value]
    await responder.cleanup(ch, order, account)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tsig_secret": base64.b64encode(b"x" * 32).decode()}, "wrong TSIG secret"),
        ({"tsig_name": "nobody."}, r"does not know TSIG key nobody\."),
        ({"tsig_algorithm": "hmac-sha512"}, r"does not know TSIG key certdesk-key\. \(hmac-sha512"),
        ({"tsig_secret": "not base64!!"}, "not valid base64"),
        ({"tsig_algorithm": "hmac-md4"}, "is not one of"),
        ({"tsig_name": ""}, "REFUSED"),  # unsigned: BIND refuses the update
    ],
)
async def test_rfc2136_bad_keys_are_clear_errors(bind, change, message):
    name = bind.unique("bad")
    order = dns_order(bind, name, **change)
    ch = chall(name)
    with pytest.raises(ResponderError, match=message) as caught:
        await responder_for(order, Account(), ResponderHost()).prepare(ch, order, Account())
    assert bind.tsig_secret not in str(caught.value)
    assert bind.query(f"_acme-challenge.{name}") == []


async def test_rfc2136_zone_not_found_and_unreachable_server(bind):
    order = dns_order(bind, "www.elsewhere.example")
    with pytest.raises(ResponderError, match="not authoritative"):
        await responder_for(order, Account(), ResponderHost()).prepare(
            chall("www.elsewhere.example"), order, Account()
        )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    order = dns_order(bind, bind.unique(), dns_server=f"127.0.0.1:{port}")
    with pytest.raises(ResponderError, match=f"127.0.0.1:{port} unreachable"):
        await responder_for(order, Account(), ResponderHost()).prepare(
            chall(order.common_name), order, Account()
        )
    with pytest.raises(ResponderError, match="no DNS server set"):
        await responder_for(
            Order(common_name="a.test", challenge_type=ChallengeType.ChallDnsAuto),
            Account(),
            ResponderHost(),
        ).prepare(chall("a.test"), Order(), Account())


async def test_zone_and_name_server_discovery(bind):
    resolver = make_resolver(bind.address)
    name = f"_acme-challenge.{bind.unique()}"
    assert await find_zone(name, resolver) == bind.zone
    assert await find_zone(f"x.{bind.delegated_zone}", resolver) == bind.delegated_zone
    servers = await authoritative_servers(bind.zone, resolver)
    assert servers == [NameServer("127.0.0.1", 53, f"ns1.{bind.zone}")]
    assert await follow_cname(f"_acme-challenge.alias.{bind.zone}", resolver) == (
        f"alias-target.{bind.delegated_zone}"
    )
    assert await follow_cname(name, resolver) == name
    with pytest.raises(ResponderError, match="cannot find the zone"):
        await find_zone("www.elsewhere.example", resolver)


async def test_dns_manual_person_adds_the_record_server_by_server(bind, bind_factory):
    second = bind_factory()
    name = bind.unique("manual")
    order = Order(
        common_name=name,
        challenge_type=ChallengeType.ChallDnsMan,
        dns_check_servers=[bind.address, second.address],
        dns_timeout=60,
    )
    account = Account(resolver=bind.address)
    events: list[Event] = []
    responder = responder_for(order, account, ResponderHost(), on_event=events.append)
    ch = chall(name)
    line = await responder.prepare(ch, order, account)
    record = f"_acme-challenge.{name}"
    assert line == f'create the TXT record {record}. 60 IN TXT "{ch.dns_value}"'
    assert any(isinstance(e, WaitingForPerson) and ch.dns_value in e.what for e in events)

    async def person() -> None:
        # Waits until the tool has looked once, then adds it to one server, then the other.
        while not any(isinstance(e, DnsPropagation) for e in events):
            await asyncio.sleep(0.01)
        await asyncio.to_thread(bind.add_txt, record, ch.dns_value)
        while not any(isinstance(e, DnsPropagation) and len(e.ready) == 1 for e in events):
            await asyncio.sleep(0.01)
        await asyncio.to_thread(second.add_txt, record, ch.dns_value)

    result, _ = await asyncio.gather(responder.self_test(ch, order, account), person())
    assert result.ok, result.detail
    pictures = [(e.ready, e.waiting) for e in events if isinstance(e, DnsPropagation)]
    assert pictures == [
        ((), (bind.address, second.address)),
        ((bind.address,), (second.address,)),
        ((bind.address, second.address), ()),
    ]
    assert pictures and events[-1].describe().startswith(f"{record}: 2/2 name servers answer")


async def test_dns_manual_time_out_keeps_waiting_and_repeats_the_record(bind):
    name = bind.unique("late")
    order = Order(
        common_name=name,
        challenge_type=ChallengeType.ChallDnsMan,
        dns_check_servers=[bind.address],
        dns_timeout=0,
    )
    responder = responder_for(order, Account(), ResponderHost())
    ch = chall(name)
    await responder.prepare(ch, order, Account())
    result = await responder.self_test(ch, order, Account())
    assert not result.ok and result.waiting
    assert "0/1 name servers answer" in result.detail
    assert f'IN TXT "{ch.dns_value}"' in result.detail


async def test_propagation_reports_an_unreachable_server(bind):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        dead = NameServer("127.0.0.1", sock.getsockname()[1])
    name = f"_acme-challenge.{bind.unique()}"
    bind.add_txt(name, "v1")
    live = NameServer("127.0.0.1", bind.port)
    events: list[Event] = []
    result = await wait_for_txt(name, {"v1"}, [live, dead], timeout=0, on_event=events.append)
    assert not result.ok and result.waiting
    assert "1/2 name servers" in result.detail and str(dead) in result.detail
    assert events[-1].ready == (str(live),) and events[-1].waiting == (str(dead),)
