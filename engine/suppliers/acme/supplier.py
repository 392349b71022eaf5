"""AcmeSupplier: the Supplier interface spoken to an RFC 8555 CA.

It reads the order and challenge records the workflow hands it and returns plain results;
the only files it touches are the account key pair in the account directory.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from ...model import Account, Challenge, Order, PrivKeyType, SupplierProto
from ...names import NameError_, is_ip, to_alabel
from ..base import AuthorizationInfo, ChallengeStatus, IssuedChain, SupplierError, SupplierOrder
from . import account as acct
from .client import PEM_CHAIN, AcmeClient, AcmeResponse
from .jws import AccountKey, b64url, generate_key, load_or_create_key, save_key
from .polling import poll_until
from .problems import AcmeError, Problem, parse_retry_after

__all__ = ["AcmeSupplier", "identifiers_for", "split_pem_chain", "choose_chain"]

_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\s*", re.S)
_FRACTION = re.compile(r"(\.\d{6})\d+")


def identifiers_for(names: list[str]) -> list[dict[str, str]]:
    """ACME identifiers for certificate names: `dns` (A-labels, wildcards kept) or `ip`
    (RFC 8738), without duplicates."""
    seen: set[tuple[str, str]] = set()
    identifiers = []
    for name in names:
        name = name.strip()
        if not name:
            continue
        if is_ip(name.strip("[]")):
            ident = ("ip", ipaddress.ip_address(name.strip("[]")).compressed)
        else:
            try:
                ident = ("dns", to_alabel(name))
            except NameError_ as exc:
                raise SupplierError(str(exc)) from None
        if ident not in seen:
            seen.add(ident)
            identifiers.append({"type": ident[0], "value": ident[1]})
    return identifiers


def split_pem_chain(data: bytes) -> list[bytes]:
    return [m.group(0).strip() + b"\n" for m in _PEM_CERT.finditer(data)]


def _issuer_cn(pem: bytes) -> str:
    cert = x509.load_pem_x509_certificate(pem)
    names = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def choose_chain(chains: list[list[bytes]], preferred_issuer: str) -> int:
    """Which chain to keep: the first whose topmost certificate was issued by
    `preferred_issuer` (as certbot's --preferred-chain), else any chain with a certificate
    from that issuer, else the CA's default (0)."""
    wanted = preferred_issuer.strip().lower()
    if not wanted:
        return 0
    for index, chain in enumerate(chains):
        if chain and _issuer_cn(chain[-1]).lower() == wanted:
            return index
    for index, chain in enumerate(chains):
        if any(_issuer_cn(pem).lower() == wanted for pem in chain):
            return index
    return 0


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(_FRACTION.sub(r"\1", value.replace("Z", "+00:00")))
    except ValueError:
        return None


def _challenge_status(
    body: dict[str, Any], response: AcmeResponse, challenge: Challenge
) -> ChallengeStatus:
    status = str(body.get("status", ""))
    detail = ""
    if status == "valid":
        # Pebble 2.4 (and RFC 8555 allows it) sends no validationRecord: name what was
        # validated from the record we hold instead.
        if body.get("type") == "http-01" and challenge.token:
            detail = (
                f"OK, URL: http://{challenge.domain}/.well-known/acme-challenge/{challenge.token}"
            )
        else:
            detail = f"OK, Hostname: {challenge.identifier}"
        for record in body.get("validationRecord") or []:
            if record.get("url"):
                detail = f"OK, URL: {record['url']}"
                break
            if record.get("hostname"):
                detail = f"OK, Hostname: {record['hostname']}"
                break
    elif status == "invalid" or body.get("error"):
        error = body.get("error")
        detail = f"Failed: {Problem.from_json(error).detail or error}" if error else "Failed"
    return ChallengeStatus(
        status=status,
        detail=detail,
        retry_after=parse_retry_after(response.headers.get("retry-after")),
    )


class AcmeSupplier:
    """An ACME v2 CA (Let's Encrypt, Pebble, any RFC 8555 server). One per open account."""

    proto = SupplierProto.SuppProtoAcmeV2

    def __init__(
        self,
        account_dir: str | os.PathLike[str],
        *,
        eab_kid: str | None = None,
        eab_hmac: str | None = None,
        log: Callable[[str], None] | None = None,
        json_log_path: str | os.PathLike[str] | None = None,
        timeout: float = 30.0,
        poll_timeout: float = 300.0,
        transport: Any = None,  # httpx transport, for unit tests
    ) -> None:
        self.account_dir = Path(account_dir)
        self.eab_kid = eab_kid
        self.eab_hmac = eab_hmac
        self.log = log
        self.json_log_path = json_log_path
        self.timeout = timeout
        self.poll_timeout = poll_timeout
        self._transport = transport
        self._client: AcmeClient | None = None
        self._key_existed = False
        self.account: Account | None = None

    # -- account --------------------------------------------------------------------

    @property
    def client(self) -> AcmeClient:
        if self._client is None:
            raise SupplierError("the ACME account is not open")
        return self._client

    @property
    def key(self) -> AccountKey:
        return self.client.key

    async def connect(self, account: Account) -> None:
        """Load (or make) the account key and read the directory, without registering."""
        if not account.server:
            raise SupplierError("the account has no ACME directory URL (SupplierServer)")
        try:
            key, self._key_existed = load_or_create_key(self.account_dir, account.acme_key_type)
        except (ValueError, OSError) as exc:
            raise SupplierError(f"ACME account key: {exc}") from None
        if self._client is not None:
            await self._client.aclose()
        self._client = AcmeClient(
            account.server,
            key,
            ca_bundle=account.ca_bundle or None,
            timeout=self.timeout,
            log=self.log,
            json_log_path=self._json_log(account),
            transport=self._transport,
        )
        self.account = account
        await self._client.directory()

    def _json_log(self, account: Account) -> Path | None:
        if self.json_log_path:
            return Path(self.json_log_path)
        return self.account_dir / "acme-log.jsonl" if account.log_json else None

    async def open(self, account: Account) -> None:
        """Connect, then use the stored account URL, or find the key's account, or register.
        Fills `account.acme_account_url` and `account.acme_account_num`."""
        await self.connect(account)
        client = self.client
        if account.acme_account_url:
            client.kid = account.acme_account_url
            if not account.acme_account_num:
                account.acme_account_num = account.acme_account_url.rstrip("/").rsplit("/", 1)[-1]
            return
        info = None
        if self._key_existed:
            try:
                info = await acct.register(client, only_existing=True)
            except AcmeError as exc:
                if not (exc.problem and exc.problem.is_("accountDoesNotExist")):
                    raise
        if info is None:
            info = await acct.register(
                client, email=account.email, eab_kid=self.eab_kid, eab_hmac=self.eab_hmac
            )
        account.acme_account_url = info.url
        account.acme_account_num = info.number

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def rollover(self, key_type: PrivKeyType | None = None) -> None:
        """Replace the account key; the new key is written only after the CA accepted it."""
        account = self._require_account()
        key_type = key_type if key_type is not None else account.acme_key_type
        try:
            new_key = generate_key(key_type)
        except ValueError as exc:
            raise SupplierError(str(exc)) from None
        await acct.change_key(self.client, new_key)
        save_key(self.account_dir, new_key)
        account.acme_key_type = key_type

    async def deactivate_account(self) -> None:
        account = self._require_account()
        await acct.deactivate(self.client)
        account.acme_account_url = ""
        account.acme_account_num = ""
        self.client.kid = None

    def _require_account(self) -> Account:
        if self.account is None or not self.client.kid:
            raise SupplierError("the ACME account is not open")
        return self.account

    # -- orders ---------------------------------------------------------------------

    async def new_order(self, order: Order) -> SupplierOrder:
        self._require_account()
        wanted = order.challenge_type.acme_type
        if wanted is None:
            raise SupplierError(
                f"challenge method {order.challenge_type.display!r} cannot be used with ACME"
            )
        names = list(order.san_names)
        if order.common_name and order.common_name.lower() not in (n.lower() for n in names):
            names.insert(0, order.common_name)
        identifiers = identifiers_for(names)
        if not identifiers:
            raise SupplierError("the order has no names")
        url = await self.client.endpoint("newOrder")
        response = await self.client.post(url, {"identifiers": identifiers})
        body = response.json()
        result = self._supplier_order(body, response.location)
        if result.status in ("pending", "ready"):
            result.authorizations = list(
                await asyncio.gather(
                    *(self._authorization(u, wanted) for u in body.get("authorizations") or [])
                )
            )
        return result

    def _supplier_order(self, body: dict[str, Any], order_url: str) -> SupplierOrder:
        error = body.get("error")
        return SupplierOrder(
            order_id=order_url.rstrip("/").rsplit("/", 1)[-1] if order_url else "",
            status=str(body.get("status", "")),
            order_url=order_url,
            finalize_url=str(body.get("finalize", "")),
            expires=_parse_time(body.get("expires")),
            certificate_url=str(body.get("certificate", "")),
            error=str(Problem.from_json(error)) if error else "",
        )

    async def _authorization(
        self, url: str, wanted: str, *, require: bool = True
    ) -> AuthorizationInfo:
        body = (await self.client.post_as_get(url)).json()
        ident = body.get("identifier") or {}
        info = AuthorizationInfo(
            domain=str(ident.get("value", "")),
            wildcard=bool(body.get("wildcard", False)),
            status=str(body.get("status", "")),
            authz_url=url,
            expires=_parse_time(body.get("expires")),
        )
        challenges = body.get("challenges") or []
        chosen = next((c for c in challenges if c.get("type") == wanted), None)
        if info.status == "valid":
            # Reused: the CA remembers an earlier validation; nothing to answer.
            chosen = next((c for c in challenges if c.get("status") == "valid"), chosen)
            info.detail = "OK, authorization still valid"
        elif chosen is None and info.status == "pending" and require:
            offered = ", ".join(sorted({str(c.get("type")) for c in challenges})) or "none"
            name = ("*." if info.wildcard else "") + info.domain
            raise AcmeError(f"the CA offers no {wanted} challenge for {name} (offered: {offered})")
        if chosen is not None:
            info.challenge_url = str(chosen.get("url", ""))
            info.challenge_type = str(chosen.get("type", ""))
            info.token = str(chosen.get("token", ""))
            if info.token:
                info.key_authorization = self.key.key_authorization(info.token)
            if chosen.get("error") and info.status != "valid":
                info.detail = f"Failed: {Problem.from_json(chosen['error']).detail}"
        return info

    async def start_challenge(self, challenge: Challenge) -> ChallengeStatus:
        response = await self.client.post(challenge.url, {}, ok=(200,))
        return _challenge_status(response.json(), response, challenge)

    async def poll_challenge(self, challenge: Challenge) -> ChallengeStatus:
        response = await self.client.post_as_get(challenge.url)
        return _challenge_status(response.json(), response, challenge)

    async def wait_challenge(
        self, challenge: Challenge, timeout: float | None = None
    ) -> ChallengeStatus:
        """Poll a started challenge until it is valid or invalid."""

        async def fetch() -> tuple[ChallengeStatus, float | None]:
            status = await self.poll_challenge(challenge)
            return status, status.retry_after

        return await poll_until(
            fetch,
            lambda s: s.status in ("valid", "invalid"),
            timeout=timeout or self.poll_timeout,
            what=f"the {challenge.identifier} challenge",
        )

    async def _order_body(self, order_url: str) -> tuple[dict[str, Any], float | None]:
        response = await self.client.post_as_get(order_url)
        return response.json(), parse_retry_after(response.headers.get("retry-after"))

    def _order_url(self, order: Order) -> str:
        if not order.acme_order_url:
            raise SupplierError(f"{order.common_name}: no ACME order URL recorded; order again")
        return order.acme_order_url

    async def poll_order(self, order: Order, *, with_authorizations: bool = False) -> SupplierOrder:
        url = self._order_url(order)
        body, _ = await self._order_body(url)
        result = self._supplier_order(body, url)
        if with_authorizations:
            wanted = order.challenge_type.acme_type or ""
            result.authorizations = list(
                await asyncio.gather(
                    *(
                        self._authorization(u, wanted, require=False)
                        for u in body.get("authorizations") or []
                    )
                )
            )
        return result

    async def wait_order(
        self,
        order: Order,
        statuses: tuple[str, ...] = ("ready", "valid", "invalid"),
        timeout: float | None = None,
    ) -> SupplierOrder:
        url = self._order_url(order)
        body = await poll_until(
            lambda: self._order_body(url),
            lambda b: b.get("status") in statuses,
            timeout=timeout or self.poll_timeout,
            what=f"the order for {order.common_name}",
        )
        return self._supplier_order(body, url)

    async def finalize(self, order: Order, csr_der: bytes) -> IssuedChain:
        """Send the CSR (unless a resumed order is already past that), wait while the order
        is `processing`, then download the certificate and its chains."""
        url = self._order_url(order)
        body, retry_after = await self._order_body(url)
        status = body.get("status")
        if status == "ready":
            finalize_url = order.acme_finalize_url or str(body.get("finalize", ""))
            response = await self.client.post(finalize_url, {"csr": b64url(csr_der)})
            body = response.json()
            status = body.get("status")
            retry_after = parse_retry_after(response.headers.get("retry-after"))
        if status == "processing":
            pending: list[tuple[dict[str, Any], float | None]] = [(body, retry_after)]

            async def fetch() -> tuple[dict[str, Any], float | None]:
                # The first look is the answer in hand; its Retry-After sets the first wait.
                return pending.pop() if pending else await self._order_body(url)

            body = await poll_until(
                fetch,
                lambda b: b.get("status") != "processing",
                timeout=self.poll_timeout,
                what=f"the certificate for {order.common_name}",
            )
            status = body.get("status")
        if status != "valid" or not body.get("certificate"):
            error = body.get("error")
            why = f": {Problem.from_json(error)}" if error else ""
            raise AcmeError(f"the order for {order.common_name} is {status}, not valid{why}")
        return await self.download(str(body["certificate"]))

    async def download(self, certificate_url: str) -> IssuedChain:
        response = await self.client.post_as_get(certificate_url, accept=PEM_CHAIN)
        chains = [split_pem_chain(response.content)]
        alternates = response.links("alternate")
        if alternates:
            responses = await asyncio.gather(
                *(self.client.post_as_get(u, accept=PEM_CHAIN) for u in alternates)
            )
            chains += [split_pem_chain(r.content) for r in responses]
        chains = [c for c in chains if c]
        if not chains:
            raise AcmeError(f"{certificate_url} sent no PEM certificate")
        preferred = self.account.preferred_chain if self.account else ""
        chosen = choose_chain(chains, preferred)
        chain = chains[chosen]
        return IssuedChain(
            certificate_pem=chain[0],
            chain_pems=chain[1:],
            alternates=[c[1:] for i, c in enumerate(chains) if i != chosen],
        )

    # -- cancel and revoke ----------------------------------------------------------

    async def cancel(self, order: Order, challenges: list[Challenge]) -> None:
        """Deactivate the order's authorizations (those recorded and those the CA lists)."""
        urls = [c.authz_url for c in challenges if c.authz_url]
        if order.acme_order_url:
            body, _ = await self._order_body(order.acme_order_url)
            if body.get("status") == "invalid":
                return  # nothing left to abandon
            urls += [str(u) for u in body.get("authorizations") or []]
        await asyncio.gather(*(self._deactivate_authz(u) for u in dict.fromkeys(urls)))

    async def _deactivate_authz(self, url: str) -> None:
        try:
            await self.client.post(url, {"status": "deactivated"}, ok=(200,))
        except AcmeError:
            # Already over (deactivated, invalid, expired) is fine; anything else is not.
            body = (await self.client.post_as_get(url)).json()
            if body.get("status") not in ("deactivated", "invalid", "expired", "revoked"):
                raise

    async def revoke(self, order: Order, certificate_pem: bytes, reason: int) -> None:
        """Revoke with the account key (the account that ordered it)."""
        self._require_account()
        await self._revoke(certificate_pem, reason, None)

    async def revoke_with_cert_key(self, certificate_pem: bytes, key: Any, reason: int) -> None:
        """Revoke by proving possession of the certificate's private key (a cryptography
        key or its PEM); works without the ordering account."""
        if isinstance(key, (bytes, str)):
            data = key.encode() if isinstance(key, str) else key
            key = serialization.load_pem_private_key(data, password=None)
        try:
            signer = AccountKey(key)
        except ValueError as exc:
            raise SupplierError(f"cannot revoke with this key: {exc}") from None
        await self._revoke(certificate_pem, reason, signer)

    async def _revoke(self, certificate_pem: bytes, reason: int, key: AccountKey | None) -> None:
        try:
            der = x509.load_pem_x509_certificate(certificate_pem).public_bytes(
                serialization.Encoding.DER
            )
        except ValueError:
            raise SupplierError("not a PEM certificate; nothing revoked") from None
        payload: dict[str, Any] = {"certificate": b64url(der)}
        if reason is not None and reason >= 0:
            payload["reason"] = int(reason)
        url = await self.client.endpoint("revokeCert")
        await self.client.post(url, payload, key=key, ok=(200,))
