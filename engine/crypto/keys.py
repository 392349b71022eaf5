"""Private keys: generate, write (optionally encrypted), read back, and pick signing digests.

Key types follow ICS's TSslPrivKeyType. Encrypted keys are written as PKCS#8 with PBES2
(PBKDF2-HMAC-SHA256 + AES-CBC), which OpenSSL 1.1+ and every current library read; old
keys in the traditional `Proc-Type: 4,ENCRYPTED` form (``openssl genrsa -des3``) are read,
never written.
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from ..model import Digest, PrivKeyCipher, PrivKeyType

__all__ = [
    "CryptoError",
    "PrivateKey",
    "generate_key",
    "key_type_of",
    "describe_key",
    "signing_hash",
    "key_to_pem",
    "load_key",
    "load_key_file",
    "public_key_matches",
]

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


class CryptoError(ValueError):
    """A key, CSR or certificate could not be made or read; `str()` is fit to show a person."""


# ICS forces anything smaller than 2048 bits up to 2048 when it creates a key.
_RSA_BITS = {
    PrivKeyType.PrivKeyRsa1024: 2048,
    PrivKeyType.PrivKeyRsa2048: 2048,
    PrivKeyType.PrivKeyRsa3072: 3072,
    PrivKeyType.PrivKeyRsa4096: 4096,
    PrivKeyType.PrivKeyRsa7680: 7680,
    PrivKeyType.PrivKeyRsa15360: 15360,
}
# ICS's "secp512" is the NIST P-521 curve.
_CURVES: dict[PrivKeyType, type[ec.EllipticCurve]] = {
    PrivKeyType.PrivKeyECsecp256: ec.SECP256R1,
    PrivKeyType.PrivKeyECsecp384: ec.SECP384R1,
    PrivKeyType.PrivKeyECsecp512: ec.SECP521R1,
}
_CURVE_TYPES = {curve.name: key_type for key_type, curve in _CURVES.items()}
_CURVE_LABELS = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


def generate_key(key_type: PrivKeyType) -> PrivateKey:
    if key_type in _RSA_BITS:
        return rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS[key_type])
    if key_type in _CURVES:
        return ec.generate_private_key(_CURVES[key_type]())
    if key_type == PrivKeyType.PrivKeyEd25519:
        return ed25519.Ed25519PrivateKey.generate()
    raise CryptoError(f"Key type {key_type.display} is not supported")


def key_type_of(key: PrivateKey) -> PrivKeyType:
    """The ICS key type of a key (RSA sizes other than the ICS ones are refused)."""
    if isinstance(key, rsa.RSAPrivateKey):
        for key_type, bits in _RSA_BITS.items():
            if bits == key.key_size and key_type != PrivKeyType.PrivKeyRsa1024:
                return key_type
        raise CryptoError(f"RSA keys of {key.key_size} bits are not supported")
    if isinstance(key, ec.EllipticCurvePrivateKey):
        try:
            return _CURVE_TYPES[key.curve.name]
        except KeyError:
            raise CryptoError(f"Elliptic curve {key.curve.name} is not supported") from None
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return PrivKeyType.PrivKeyEd25519
    raise CryptoError(f"Keys of type {type(key).__name__} are not supported")


def describe_key(key: PrivateKey | object) -> str:
    """`RSA 2048`, `EC P-256`, `Ed25519`, for a private or a public key."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return f"EC {_CURVE_LABELS.get(key.curve.name, key.curve.name)}"
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "Ed25519"
    return type(key).__name__


_HASHES: dict[Digest, type[hashes.HashAlgorithm]] = {
    Digest.Digest_sha256: hashes.SHA256,
    Digest.Digest_sha384: hashes.SHA384,
    Digest.Digest_sha512: hashes.SHA512,
    Digest.Digest_sha3_256: hashes.SHA3_256,
    Digest.Digest_sha3_384: hashes.SHA3_384,
    Digest.Digest_sha3_512: hashes.SHA3_512,
}


_SHA3 = {Digest.Digest_sha3_256, Digest.Digest_sha3_384, Digest.Digest_sha3_512}


def signing_hash(digest: Digest, key: PrivateKey) -> hashes.HashAlgorithm | None:
    """The hash to sign with. Ed25519 signs without a separate digest (None, whatever is
    asked); `Digest_None` means SHA-256 for the others. Weak or odd digests are refused, and
    SHA-3 with EC keys."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if digest == Digest.Digest_None:
        return hashes.SHA256()
    if digest in _SHA3 and isinstance(key, ec.EllipticCurvePrivateKey):
        # cryptography signs ECDSA-SHA3, but OpenSSL before 3.2 cannot verify it.
        raise CryptoError(f"{digest.display} cannot sign with an EC key; use SHA256/384/512")
    try:
        return _HASHES[digest]()
    except KeyError:
        allowed = ", ".join(d.display for d in _HASHES)
        raise CryptoError(
            f"Signature digest {digest.display} is not supported; use one of {allowed}"
        ) from None


# --------------------------------------------------------------------------------------
# Writing


_PBKDF2_ITERATIONS = 100_000  # OpenSSL's default is 2048; this costs ~50 ms per load
_AES_BITS = {
    PrivKeyCipher.PrivKeyEncAES128: 128,
    PrivKeyCipher.PrivKeyEncAES192: 192,
    PrivKeyCipher.PrivKeyEncAES256: 256,
}
_AES_CBC_OIDS = {
    128: "2.16.840.1.101.3.4.1.2",
    192: "2.16.840.1.101.3.4.1.22",
    256: "2.16.840.1.101.3.4.1.42",
}
_PBES2 = "1.2.840.113549.1.5.13"
_PBKDF2 = "1.2.840.113549.1.5.12"
_HMAC_SHA256 = "1.2.840.113549.2.9"


def key_to_pem(
    key: PrivateKey,
    password: str | None = None,
    cipher: PrivKeyCipher = PrivKeyCipher.PrivKeyEncAES256,
) -> bytes:
    """PKCS#8 PEM; encrypted with `cipher` when `password` is given.

    Triple DES, IDEA and None are written as AES-256, as ICS does without OpenSSL's
    legacy provider. Whether to encrypt at all (OutFmtPwPem) is the caller's decision.
    """
    plain = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    if not password:
        return _pem("PRIVATE KEY", plain)
    return _pem("ENCRYPTED PRIVATE KEY", _pbes2_encrypt(plain, password.encode(), cipher))


def _pbes2_encrypt(plain: bytes, password: bytes, cipher: PrivKeyCipher) -> bytes:
    bits = _AES_BITS.get(cipher, 256)
    salt, iv = os.urandom(16), os.urandom(16)
    kdf = PBKDF2HMAC(hashes.SHA256(), bits // 8, salt, _PBKDF2_ITERATIONS)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain) + padder.finalize()
    encryptor = Cipher(algorithms.AES(kdf.derive(password)), modes.CBC(iv)).encryptor()
    encrypted = encryptor.update(padded) + encryptor.finalize()
    kdf_params = _seq(
        _oid(_PBKDF2),
        _seq(_octets(salt), _int(_PBKDF2_ITERATIONS), _seq(_oid(_HMAC_SHA256), b"\x05\x00")),
    )
    scheme = _seq(_oid(_AES_CBC_OIDS[bits]), _octets(iv))
    return _seq(_seq(_oid(_PBES2), _seq(kdf_params, scheme)), _octets(encrypted))


# Just enough DER for EncryptedPrivateKeyInfo (RFC 5958 / RFC 8018).
def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def _seq(*items: bytes) -> bytes:
    return _tlv(0x30, b"".join(items))


def _octets(data: bytes) -> bytes:
    return _tlv(0x04, data)


def _int(value: int) -> bytes:
    return _tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        while arc > 0x7F:
            arc >>= 7
            chunk.append(0x80 | (arc & 0x7F))
        body.extend(reversed(chunk))
    return _tlv(0x06, bytes(body))


def _pem(label: str, der: bytes) -> bytes:
    text = base64.b64encode(der).decode()
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    body = "\n".join(lines)
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n".encode()


# --------------------------------------------------------------------------------------
# Reading

_KEY_BLOCK = re.compile(
    rb"-----BEGIN ((?:RSA |EC |ENCRYPTED )?PRIVATE KEY)-----.*?-----END \1-----\r?\n?", re.DOTALL
)


def load_key(data: bytes | str, password: str | None = None, *, source: str = "") -> PrivateKey:
    """The first private key in `data` (PEM: PKCS#1, PKCS#8, SEC1, encrypted or not; or DER).

    `data` may be a bundle holding certificates too. Errors name `source` when given.
    """
    where = f" in {source}" if source else ""
    if isinstance(data, str):
        data = data.encode()
    match = _KEY_BLOCK.search(data)
    secret = password.encode() if password else None
    try:
        if match:
            key = _load_pem(match.group(0), secret)
        elif b"-----BEGIN" in data:
            raise CryptoError(f"No private key found{where}")
        else:
            key = _load_der(data, secret)
    except CryptoError:
        raise
    except TypeError:
        # Only raised for an encrypted key and no password.
        raise CryptoError(f"The private key{where} is encrypted: a password is needed") from None
    except ValueError as exc:
        if "password" in str(exc).lower() or "decrypt" in str(exc).lower():
            raise CryptoError(f"Wrong password for the private key{where}") from None
        raise CryptoError(f"The private key{where} is corrupt or not a key") from None
    except UnsupportedAlgorithm:
        raise CryptoError(f"The private key{where} uses an unsupported algorithm") from None
    key_type_of(key)  # refuses DSA, X25519, odd curves
    return key


def _load_pem(block: bytes, secret: bytes | None) -> PrivateKey:
    try:
        return serialization.load_pem_private_key(block, secret)
    except TypeError:
        if secret is None:
            raise
        # A password was given for a key that is not encrypted: take the key as it is.
        return serialization.load_pem_private_key(block, None)


def _load_der(data: bytes, secret: bytes | None) -> PrivateKey:
    try:
        return serialization.load_der_private_key(data, secret)
    except TypeError:
        if secret is None:
            raise
        return serialization.load_der_private_key(data, None)


def load_key_file(path: str | os.PathLike[str], password: str | None = None) -> PrivateKey:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CryptoError(f"Cannot read the private key file {path}: {exc.strerror}") from None
    return load_key(data, password, source=str(path))


def public_key_matches(key: PrivateKey, public_key: object) -> bool:
    """Whether `public_key` (of a certificate or CSR) belongs to `key`."""
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    try:
        return key.public_key().public_bytes(*spki) == public_key.public_bytes(*spki)  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False
