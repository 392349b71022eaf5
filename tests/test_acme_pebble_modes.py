"""AcmeSupplier against Pebbles started for one test: EAB, alternate chains, strict mode,
nonce rejection with authorization reuse."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from engine.model import ChallengeType
from engine.suppliers.acme import AcmeSupplier
from engine.suppliers.base import SupplierError
from tests.test_acme_pebble import issue, leaf, leaf_names, make_account, make_order, unique

pytestmark = pytest.mark.pebble

EAB_KID = "kid-1"
# Fixed, so xdist workers collect the same parameters; each Pebble is private anyway.
EAB_HMAC = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"


def subject_cn(pem: bytes) -> str:
    cert = x509.load_pem_x509_certificate(pem)
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def issuer_cn(pem: bytes) -> str:
    cert = x509.load_pem_x509_certificate(pem)
    return str(cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


@pytest.fixture
def eab_pebble(pebble_factory):
    return pebble_factory(eab_keys={EAB_KID: EAB_HMAC})


async def test_eab_with_the_right_credentials(eab_pebble, tmp_path):
    account = make_account(eab_pebble)
    supplier = AcmeSupplier(tmp_path / "acct", eab_kid=EAB_KID, eab_hmac=EAB_HMAC)
    try:
        await supplier.open(account)
        assert account.acme_account_url
        name = unique("eab")
        _order, chain, _key, _results = await issue(supplier, eab_pebble, [name])
        assert leaf_names(chain) == {name}
    finally:
        await supplier.aclose()


@pytest.mark.parametrize(
    ("kid", "hmac"),
    [
        (EAB_KID, base64.urlsafe_b64encode(b"x" * 32).rstrip(b"=").decode()),  # wrong key
        ("kid-unknown", EAB_HMAC),  # unknown kid
    ],
    ids=["wrong-hmac", "unknown-kid"],
)
async def test_eab_with_wrong_credentials(eab_pebble, tmp_path, kid, hmac):
    account = make_account(eab_pebble)
    supplier = AcmeSupplier(tmp_path / "acct", eab_kid=kid, eab_hmac=hmac)
    with pytest.raises(SupplierError) as caught:
        await supplier.open(account)
    await supplier.aclose()
    assert caught.value.detail, "the CA's explanation is kept"
    assert not caught.value.retryable
    assert account.acme_account_url == ""


async def test_eab_required_but_not_given(eab_pebble, tmp_path):
    supplier = AcmeSupplier(tmp_path / "acct")
    with pytest.raises(SupplierError, match="requires External Account Binding"):
        await supplier.open(make_account(eab_pebble))
    await supplier.aclose()


async def test_alternate_chains_and_preferred_chain(pebble_factory, tmp_path):
    server = pebble_factory(env={"PEBBLE_ALTERNATE_ROOTS": "2"})
    roots = server.root_pems()
    assert len(roots) == 3
    root_names = [subject_cn(r) for r in roots]

    supplier = AcmeSupplier(tmp_path / "acct")
    account = make_account(server)
    await supplier.open(account)
    try:
        _order, chain, _key, _results = await issue(supplier, server, [unique("alt")])
        assert len(chain.alternates) == 2
        default_top = issuer_cn(chain.chain_pems[-1])
        assert default_top == root_names[0]
        offered = {issuer_cn(c[-1]) for c in chain.alternates} | {default_top}
        assert offered == set(root_names)

        # Ask for the last root's chain: it is chosen, the default goes to the alternates.
        account.preferred_chain = root_names[2]
        _order, chosen, _key, _results = await issue(supplier, server, [unique("pref")])
        assert issuer_cn(chosen.chain_pems[-1]) == root_names[2]
        assert root_names[0] in {issuer_cn(c[-1]) for c in chosen.alternates}
        # The intermediate of the chosen chain did sign the leaf.
        inter = x509.load_pem_x509_certificate(chosen.chain_pems[0])
        leaf(chosen).verify_directly_issued_by(inter)

        # A name no chain has: the CA's default.
        account.preferred_chain = "No Such Root"
        _order, fallback, _key, _results = await issue(supplier, server, [unique("nopref")])
        assert issuer_cn(fallback.chain_pems[-1]) == root_names[0]
    finally:
        await supplier.aclose()


async def test_strict_mode(pebble_factory, tmp_path):
    server = pebble_factory(strict=True)
    supplier = AcmeSupplier(tmp_path / "acct")
    await supplier.open(make_account(server))
    try:
        names = [unique("strict"), unique("strict")]
        _order, chain, _key, _results = await issue(supplier, server, names)
        assert leaf_names(chain) == set(names)
        base = unique("strictwild")
        _order, chain, _key, _results = await issue(
            supplier, server, [f"*.{base}"], ChallengeType.ChallDnsAuto
        )
        assert leaf_names(chain) == {f"*.{base}"}
    finally:
        await supplier.aclose()


async def test_tls_alpn01_through_challtestsrv(pebble, tmp_path):
    supplier = AcmeSupplier(tmp_path / "acct")
    await supplier.open(make_account(pebble))
    try:
        name = unique("alpn")
        _order, chain, _key, results = await issue(
            supplier, pebble, [name], ChallengeType.ChallAlpnSrv
        )
        assert leaf_names(chain) == {name}
        assert results == [f"OK, Hostname: {name}"]
    finally:
        await supplier.aclose()


async def test_nonce_rejection_and_authz_reuse_still_complete(pebble_factory, tmp_path):
    server = pebble_factory(env={"PEBBLE_WFE_NONCEREJECT": "20", "PEBBLE_AUTHZREUSE": "50"})
    log_path = tmp_path / "acme.jsonl"
    supplier = AcmeSupplier(tmp_path / "acct", json_log_path=log_path)
    await supplier.open(make_account(server))
    try:
        shared = [unique("reuse"), unique("reuse")]
        # First round validates the shared names; later orders may get their
        # authorizations back already valid.
        await issue(supplier, server, shared)
        results = await asyncio.gather(
            *(issue(supplier, server, [*shared, unique("extra")]) for _ in range(5))
        )
        for _order, chain, _key, _details in results:
            assert set(shared) <= leaf_names(chain)
    finally:
        await supplier.aclose()
    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    rejected = [
        r
        for r in records
        if r["status"] == 400
        and isinstance(r.get("response"), dict)
        and r["response"].get("type", "").endswith(":badNonce")
    ]
    assert rejected, "at 20 % rejection over ~80 requests some nonces must have been refused"


async def test_valid_authorization_is_reused(pebble_factory, tmp_path):
    server = pebble_factory(env={"PEBBLE_AUTHZREUSE": "100"})
    supplier = AcmeSupplier(tmp_path / "acct")
    await supplier.open(make_account(server))
    try:
        name = unique("reused")
        await issue(supplier, server, [name])
        placed = await supplier.new_order(make_order([name]))
        (authz,) = placed.authorizations
        assert authz.status == "valid"
        assert authz.detail.startswith("OK")
        # Nothing to answer: the order is ready at once.
        assert placed.status == "ready"
    finally:
        await supplier.aclose()
