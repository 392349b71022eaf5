"""The ACME v2 supplier (RFC 8555): client, JWS, problem documents."""

from .client import AcmeClient, AcmeResponse, trust_context
from .jws import AccountKey, dns01_txt_value, generate_key, load_or_create_key
from .polling import poll_until
from .problems import AcmeError, AcmeRateLimited, Problem
from .supplier import AcmeSupplier, choose_chain, identifiers_for, split_pem_chain

__all__ = [
    "AccountKey",
    "AcmeClient",
    "AcmeError",
    "AcmeRateLimited",
    "AcmeResponse",
    "AcmeSupplier",
    "Problem",
    "choose_chain",
    "dns01_txt_value",
    "generate_key",
    "identifiers_for",
    "load_or_create_key",
    "poll_until",
    "split_pem_chain",
    "trust_context",
]
