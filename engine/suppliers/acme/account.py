"""ACME account operations (RFC 8555 §7.3): register, look up, roll the key, deactivate."""

from __future__ import annotations

from dataclasses import dataclass

from .client import AcmeClient
from .jws import AccountKey, eab_jws, sign_jws
from .problems import AcmeError

__all__ = ["AccountInfo", "register", "change_key", "deactivate"]


@dataclass
class AccountInfo:
    url: str
    number: str  # ICS AcmeAccountNum
    status: str
    created: bool  # a new account (201) rather than the key's existing one


async def register(
    client: AcmeClient,
    *,
    email: str = "",
    eab_kid: str | None = None,
    eab_hmac: str | None = None,
    only_existing: bool = False,
) -> AccountInfo:
    """newAccount with the terms agreed; `only_existing` looks the key's account up without
    creating one (raises AcmeError `accountDoesNotExist` when there is none)."""
    url = await client.endpoint("newAccount")
    payload: dict = {"termsOfServiceAgreed": True}
    if only_existing:
        payload = {"onlyReturnExisting": True}
    else:
        if email:
            payload["contact"] = [f"mailto:{e.strip()}" for e in email.split(",") if e.strip()]
        if eab_kid or eab_hmac:
            if not (eab_kid and eab_hmac):
                raise AcmeError("External Account Binding needs both the key id and the HMAC key")
            try:
                payload["externalAccountBinding"] = eab_jws(
                    eab_kid, eab_hmac, client.key.jwk(), url
                )
            except ValueError as exc:
                raise AcmeError(str(exc)) from None
        elif (await client.meta()).get("externalAccountRequired"):
            raise AcmeError(
                "this CA requires External Account Binding: give --eab-kid and --eab-hmac"
            )
    response = await client.post(url, payload, use_jwk=True)
    account_url = response.location
    if not account_url:
        raise AcmeError(f"{url} created an account but sent no Location", url=url)
    client.kid = account_url
    body = response.json() if response.content else {}
    number = response.headers.get("boulder-requester", "") if response.status == 201 else ""
    number = number or account_url.rstrip("/").rsplit("/", 1)[-1]
    return AccountInfo(
        url=account_url,
        number=number,
        status=str(body.get("status", "valid")) if isinstance(body, dict) else "valid",
        created=response.status == 201,
    )


async def change_key(client: AcmeClient, new_key: AccountKey) -> None:
    """Roll the account over to `new_key` (RFC 8555 §7.3.5). The client signs with the new
    key only once the CA has accepted it."""
    if not client.kid:
        raise AcmeError("the account URL is not known; open the account first")
    url = await client.endpoint("keyChange")
    # The inner JWS is signed by the new key, carries its jwk and no nonce.
    inner = sign_jws(new_key, {"account": client.kid, "oldKey": client.key.jwk()}, url=url)
    await client.post(url, inner)
    client.key = new_key


async def deactivate(client: AcmeClient) -> str:
    if not client.kid:
        raise AcmeError("the account URL is not known; open the account first")
    response = await client.post(client.kid, {"status": "deactivated"})
    body = response.json()
    return str(body.get("status", "")) if isinstance(body, dict) else ""
