"""JSON Web Signatures for ACME (RFC 8555 §6.2, RFC 7515/7518, RFC 8037).

An `AccountKey` wraps a private key and knows its JWS algorithm, its public JWK and its
thumbprint. `sign_jws` builds the flattened JSON serialization ACME requires. ECDSA
signatures are the raw `r || s` of RFC 7518 §3.4, not the DER that cryptography returns.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from ...atomic import PRIVATE, PUBLIC, write_atomic
from ...model import PrivKeyType

__all__ = [
    "b64url",
    "b64url_decode",
    "AccountKey",
    "generate_key",
    "load_or_create_key",
    "public_jwk",
    "jwk_thumbprint",
    "sign_jws",
    "eab_jws",
    "dns01_txt_value",
    "save_key",
    "PRIVATE_KEY_FILE",
    "PUBLIC_KEY_FILE",
]

PRIVATE_KEY_FILE = "AcmePrivateKey.pem"
PUBLIC_KEY_FILE = "AcmePublicKey.pem"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

_CURVES = {
    "secp256r1": ("P-256", "ES256", hashes.SHA256(), 32),
    "secp384r1": ("P-384", "ES384", hashes.SHA384(), 48),
    "secp521r1": ("P-521", "ES512", hashes.SHA512(), 66),
}

_RSA_BITS = {
    PrivKeyType.PrivKeyRsa1024: 1024,
    PrivKeyType.PrivKeyRsa2048: 2048,
    PrivKeyType.PrivKeyRsa3072: 3072,
    PrivKeyType.PrivKeyRsa4096: 4096,
    PrivKeyType.PrivKeyRsa7680: 7680,
    PrivKeyType.PrivKeyRsa15360: 15360,
    # An ACME account key signs RS256 whatever ICS calls it: no CA takes PS256.
    PrivKeyType.PrivKeyRsaPss2048: 2048,
    PrivKeyType.PrivKeyRsaPss3072: 3072,
    PrivKeyType.PrivKeyRsaPss4096: 4096,
    PrivKeyType.PrivKeyRsaPss7680: 7680,
    PrivKeyType.PrivKeyRsaPss15360: 15360,
}

_EC = {
    PrivKeyType.PrivKeyECsecp256: ec.SECP256R1,
    PrivKeyType.PrivKeyECsecp384: ec.SECP384R1,
    PrivKeyType.PrivKeyECsecp512: ec.SECP521R1,  # ICS's "secp512" is P-521
}


def b64url(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    text = text.strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int_b64(value: int, length: int | None = None) -> str:
    length = length or max(1, (value.bit_length() + 7) // 8)
    return b64url(value.to_bytes(length, "big"))


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode("utf-8")


class AccountKey:
    """A private key that signs ACME requests."""

    def __init__(self, key: PrivateKey) -> None:
        if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name not in _CURVES:
            raise ValueError(
                f"elliptic curve {key.curve.name} cannot sign ACME requests "
                "(use P-256, P-384 or P-521)"
            )
        if not isinstance(
            key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
        ):
            raise ValueError(f"a {type(key).__name__} cannot sign ACME requests")
        self.key = key

    @classmethod
    def from_pem(cls, data: bytes) -> AccountKey:
        return cls(serialization.load_pem_private_key(data, password=None))  # type: ignore[arg-type]

    @property
    def alg(self) -> str:
        key = self.key
        if isinstance(key, rsa.RSAPrivateKey):
            return "RS256"
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return _CURVES[key.curve.name][1]
        return "EdDSA"

    def jwk(self) -> dict[str, str]:
        return public_jwk(self.key.public_key())

    def thumbprint(self) -> str:
        return jwk_thumbprint(self.jwk())

    def key_authorization(self, token: str) -> str:
        return f"{token}.{self.thumbprint()}"

    def sign(self, data: bytes) -> bytes:
        key = self.key
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        if isinstance(key, ec.EllipticCurvePrivateKey):
            _crv, _alg, digest, size = _CURVES[key.curve.name]
            r, s = decode_dss_signature(key.sign(data, ec.ECDSA(digest)))
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")
        return key.sign(data)

    def private_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public_pem(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def public_jwk(public: Any) -> dict[str, str]:
    """The public JWK, with only the members RFC 7638 hashes for the thumbprint."""
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        return {"e": _int_b64(numbers.e), "kty": "RSA", "n": _int_b64(numbers.n)}
    if isinstance(public, ec.EllipticCurvePublicKey):
        crv, _alg, _hash, size = _CURVES[public.curve.name]
        point = public.public_numbers()
        return {"crv": crv, "kty": "EC", "x": _int_b64(point.x, size), "y": _int_b64(point.y, size)}
    if isinstance(public, ed25519.Ed25519PublicKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"crv": "Ed25519", "kty": "OKP", "x": b64url(raw)}
    raise ValueError(f"no JWK for a {type(public).__name__}")


def jwk_thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638: base64url(SHA-256(the JWK's required members, sorted, no spaces))."""
    return b64url(hashlib.sha256(_json(jwk)).digest())


def generate_key(key_type: PrivKeyType) -> AccountKey:
    if key_type in _RSA_BITS:
        return AccountKey(rsa.generate_private_key(65537, _RSA_BITS[key_type]))
    if key_type in _EC:
        return AccountKey(ec.generate_private_key(_EC[key_type]()))
    if key_type == PrivKeyType.PrivKeyEd25519:
        return AccountKey(ed25519.Ed25519PrivateKey.generate())
    raise ValueError(f"{key_type.display} cannot be an ACME account key")


def save_key(account_dir: Path, key: AccountKey) -> None:
    """Write the account key pair; the private key 0600, each file atomically."""
    write_atomic(account_dir / PRIVATE_KEY_FILE, key.private_pem(), PRIVATE)
    write_atomic(account_dir / PUBLIC_KEY_FILE, key.public_pem(), PUBLIC)


def load_or_create_key(account_dir: Path, key_type: PrivKeyType) -> tuple[AccountKey, bool]:
    """The account's key from `AcmePrivateKey.pem`, made (of `key_type`) when missing.

    Returns the key and whether it already existed.
    """
    path = account_dir / PRIVATE_KEY_FILE
    if path.exists():
        try:
            return AccountKey.from_pem(path.read_bytes()), True
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path} is not a usable ACME account key: {exc}") from None
    account_dir.mkdir(parents=True, exist_ok=True)
    key = generate_key(key_type)
    save_key(account_dir, key)
    return key, False


def sign_jws(
    key: AccountKey,
    payload: Any,
    *,
    url: str,
    nonce: str | None = None,
    kid: str | None = None,
) -> dict[str, str]:
    """A flattened JWS. `payload=None` is POST-as-GET (empty payload); `kid` replaces `jwk`."""
    protected: dict[str, Any] = {"alg": key.alg}
    if kid:
        protected["kid"] = kid
    else:
        protected["jwk"] = key.jwk()
    if nonce is not None:
        protected["nonce"] = nonce
    protected["url"] = url
    protected_b64 = b64url(json.dumps(protected, separators=(",", ":")))
    payload_b64 = "" if payload is None else b64url(json.dumps(payload, separators=(",", ":")))
    signature = key.sign(f"{protected_b64}.{payload_b64}".encode("ascii"))
    return {"protected": protected_b64, "payload": payload_b64, "signature": b64url(signature)}


def eab_jws(kid: str, hmac_key_b64: str, account_jwk: dict[str, str], url: str) -> dict[str, str]:
    """The externalAccountBinding of RFC 8555 §7.3.4: the account JWK, MACed with HS256."""
    try:
        mac_key = b64url_decode(hmac_key_b64)
    except (ValueError, TypeError):
        raise ValueError("the EAB HMAC key is not base64url") from None
    protected_b64 = b64url(json.dumps({"alg": "HS256", "kid": kid, "url": url}))
    payload_b64 = b64url(json.dumps(account_jwk, separators=(",", ":")))
    signing_input = f"{protected_b64}.{payload_b64}".encode("ascii")
    signature = hmac.new(mac_key, signing_input, hashlib.sha256).digest()
    return {"protected": protected_b64, "payload": payload_b64, "signature": b64url(signature)}


def dns01_txt_value(key_authorization: str) -> str:
    """The TXT record a dns-01 challenge wants (RFC 8555 §8.4)."""
    return b64url(hashlib.sha256(key_authorization.encode("ascii")).digest())
