"""The Supplier interface: what the order workflow asks of a certificate authority.

A supplier speaks its CA's protocol and nothing else. It never touches the account
database, files or the UI: it takes records, returns plain results, and raises
`SupplierError` with a readable message when the CA says no. The workflow records
everything and decides what happens next (see `engine.states`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from ..model import Account, Challenge, Order, SupplierProto

__all__ = [
    "SupplierError",
    "RateLimited",
    "AuthorizationInfo",
    "SupplierOrder",
    "ChallengeStatus",
    "IssuedChain",
    "Supplier",
]


class SupplierError(Exception):
    """The CA refused or failed a request. `str()` is fit to show a person.

    `retryable` says whether the same request may succeed later unchanged (network
    trouble, a 5xx, a rate limit) as opposed to a refusal that needs a change first.
    """

    def __init__(self, message: str, *, retryable: bool = False, detail: str = "") -> None:
        super().__init__(message)
        self.retryable = retryable
        self.detail = detail


class RateLimited(SupplierError):
    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message, retryable=True)
        self.retry_after = retry_after


@dataclass
class AuthorizationInfo:
    """One name to be validated, and the challenge chosen for it."""

    domain: str  # without `*.` for a wildcard
    wildcard: bool
    status: str  # pending | valid | invalid | deactivated | expired | revoked
    authz_url: str = ""
    challenge_url: str = ""
    challenge_type: str = ""  # http-01 | dns-01 | tls-alpn-01 | FILE | DNS | EMAIL
    token: str = ""
    key_authorization: str = ""  # the expected response (ACME `token.thumbprint`)
    expires: datetime | None = None
    detail: str = ""  # an error or validation record, for the record's result text


@dataclass
class SupplierOrder:
    order_id: str  # SuppOrderId: the supplier's order number
    status: str  # pending | ready | processing | valid | invalid
    order_url: str = ""
    finalize_url: str = ""
    expires: datetime | None = None
    authorizations: list[AuthorizationInfo] = field(default_factory=list)
    certificate_url: str = ""
    error: str = ""


@dataclass
class ChallengeStatus:
    status: str  # pending | processing | valid | invalid
    detail: str = ""  # validation record (`OK, URL: ...`) or error detail
    retry_after: float | None = None


@dataclass
class IssuedChain:
    """A collected certificate: the leaf first, then what the CA sent to go with it."""

    certificate_pem: bytes
    chain_pems: list[bytes] = field(default_factory=list)  # intermediates (and maybe a root)
    pkcs7_der: bytes | None = None
    alternates: list[list[bytes]] = field(default_factory=list)  # other chains offered


@runtime_checkable
class Supplier(Protocol):
    """A certificate authority. One instance per open account."""

    proto: SupplierProto

    async def open(self, account: Account) -> None:
        """Connect; register or look up the account. May fill account fields (URL, number)."""

    async def aclose(self) -> None: ...

    async def new_order(self, order: Order) -> SupplierOrder:
        """Place an order for `order.san_names`; return it with its authorizations.

        An order that needs no validation (Own CA) comes back `ready` with none.
        """

    async def start_challenge(self, challenge: Challenge) -> ChallengeStatus:
        """Tell the CA the response is in place and it may validate."""

    async def poll_challenge(self, challenge: Challenge) -> ChallengeStatus: ...

    async def poll_order(self, order: Order) -> SupplierOrder: ...

    async def finalize(self, order: Order, csr_der: bytes) -> IssuedChain:
        """Submit the CSR and wait for the certificate (polling a `processing` order)."""

    async def cancel(self, order: Order, challenges: list[Challenge]) -> None:
        """Abandon an unfinished order (ACME: deactivate its authorizations)."""

    async def revoke(self, order: Order, certificate_pem: bytes, reason: int) -> None: ...
