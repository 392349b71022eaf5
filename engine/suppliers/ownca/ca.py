"""The Own CA itself: create a root and an intermediate, load an existing CA, sign a CSR."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ...atomic import PRIVATE, PUBLIC, write_atomic
from ...crypto.chain import load_certificates
from ...crypto.keys import (
    CryptoError,
    PrivateKey,
    generate_key,
    key_to_pem,
    load_key,
    public_key_matches,
    signing_hash,
)
from ...model import Digest, PrivKeyCipher, PrivKeyType

__all__ = ["CaFiles", "OwnCA", "create_ca", "load_ca"]

ROOT_CERT = "ownca-root.pem"
ROOT_KEY = "ownca-root-key.pem"
CA_CERT = "ownca-ca.pem"  # the intermediate, then the root: the account's CACertFile
CA_KEY = "ownca-ca-key.pem"  # the account's CAPkeyFile


@dataclass
class CaFiles:
    root_cert: Path
    root_key: Path
    cert: Path  # the signing (intermediate) certificate and its chain
    key: Path


@dataclass
class OwnCA:
    """A signing CA: its certificate and key, and the certificates above it up to the root."""

    cert: x509.Certificate
    key: PrivateKey
    chain: list[x509.Certificate] = field(default_factory=list)

    @property
    def root(self) -> x509.Certificate:
        return self.chain[-1] if self.chain else self.cert

    def issuer_pems(self) -> list[bytes]:
        """The signing certificate and everything above it, as PEM: what goes with a leaf."""
        return [c.public_bytes(serialization.Encoding.PEM) for c in (self.cert, *self.chain)]

    def sign(
        self,
        csr: x509.CertificateSigningRequest,
        *,
        serial: int,
        validity_days: int,
        digest: Digest = Digest.Digest_sha256,
        crl_url: str = "",
        now: datetime | None = None,
    ) -> x509.Certificate:
        """A server/client certificate for the CSR's subject and names."""
        now = now or datetime.now(UTC)
        if validity_days < 1:
            raise CryptoError("The certificate validity must be at least one day")
        not_after = min(now + timedelta(days=validity_days), self.cert.not_valid_after_utc)
        try:
            sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            if not cns:
                raise CryptoError("The CSR names no domain") from None
            sans = x509.SubjectAlternativeName([x509.DNSName(str(cns[0].value))])
        public = csr.public_key()
        is_rsa = isinstance(public, rsa.RSAPublicKey)
        builder = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(self.cert.subject)
            .public_key(public)
            .serial_number(serial)
            .not_valid_before(now - timedelta(minutes=1))  # allow a little clock skew
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(digital_signature=True, key_encipherment=is_rsa), True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(sans, critical=len(csr.subject) == 0)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(self._aki(), critical=False)
        )
        if crl_url:
            point = x509.DistributionPoint(
                [x509.UniformResourceIdentifier(crl_url)], None, None, None
            )
            builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
        return builder.sign(self.key, signing_hash(digest, self.key))  # type: ignore[arg-type]

    def _aki(self) -> x509.AuthorityKeyIdentifier:
        try:
            ski = self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
        except x509.ExtensionNotFound:
            return x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key())  # type: ignore[arg-type]


def _key_usage(*, digital_signature=False, key_encipherment=False, ca=False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _ca_cert(
    subject: x509.Name,
    key: PrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: PrivateKey,
    not_after: datetime,
    now: datetime,
    path_length: int | None,
    digest: Digest,
) -> x509.Certificate:
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer else subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_key_usage(digital_signature=True, ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)  # type: ignore[arg-type]
    )
    if issuer is not None:
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
    return builder.sign(issuer_key, signing_hash(digest, issuer_key))  # type: ignore[arg-type]


def create_ca(
    directory: str | os.PathLike[str],
    *,
    root_name: str,
    intermediate_name: str,
    key_type: PrivKeyType = PrivKeyType.PrivKeyECsecp384,
    validity_days: int = 3650,
    password: str | None = None,
    digest: Digest = Digest.Digest_sha256,
    now: datetime | None = None,
) -> CaFiles:
    """A root CA and an intermediate signed by it, written into `directory`.

    Keys are 0600, encrypted (PKCS#8, AES-256) when `password` is given. Existing CA files
    are never overwritten; if writing fails part-way, what was written is removed.
    """
    folder = Path(directory)
    if not root_name.strip() or not intermediate_name.strip():
        raise CryptoError("The root and intermediate CA need a name")
    if validity_days < 2:
        raise CryptoError("The CA validity must be at least two days")
    if not folder.is_dir():
        raise CryptoError(f"The CA directory {folder} does not exist")
    files = CaFiles(folder / ROOT_CERT, folder / ROOT_KEY, folder / CA_CERT, folder / CA_KEY)
    existing = [p.name for p in vars(files).values() if p.exists()]
    if existing:
        raise CryptoError(f"A CA already exists in {folder} ({', '.join(existing)})")

    now = now or datetime.now(UTC)
    root_key, ca_key = generate_key(key_type), generate_key(key_type)
    root_not_after = now + timedelta(days=validity_days)
    root = _ca_cert(_name(root_name), root_key, None, root_key, root_not_after, now, None, digest)
    # The intermediate ends a day before the root, so it never outlives its issuer.
    inter = _ca_cert(
        _name(intermediate_name), ca_key, root, root_key, root_not_after - timedelta(days=1),
        now, 0, digest,
    )  # fmt: skip
    pem = serialization.Encoding.PEM
    cipher = PrivKeyCipher.PrivKeyEncAES256
    contents = [
        (files.root_key, key_to_pem(root_key, password, cipher), PRIVATE),
        (files.key, key_to_pem(ca_key, password, cipher), PRIVATE),
        (files.root_cert, root.public_bytes(pem), PUBLIC),
        (files.cert, inter.public_bytes(pem) + root.public_bytes(pem), PUBLIC),
    ]
    written: list[Path] = []
    try:
        for path, data, mode in contents:
            write_atomic(path, data, mode)
            written.append(path)
    except OSError as exc:
        for path in written:
            with contextlib.suppress(OSError):
                path.unlink()
        raise CryptoError(f"Cannot write the CA files in {folder}: {exc.strerror}") from None
    return files


def _name(text: str) -> x509.Name:
    """`My Root` as a CN, or a full RFC 4514 name such as `CN=My Root,O=Example`."""
    text = text.strip()
    if "=" in text:
        try:
            return x509.Name.from_rfc4514_string(text)
        except ValueError:
            pass
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def load_ca(
    directory: str | os.PathLike[str],
    cert_file: str | os.PathLike[str],
    key_file: str | os.PathLike[str] | None = None,
    password: str | None = None,
) -> OwnCA:
    """An existing CA: a PEM bundle with its key, or a certificate file and a key file.

    Relative paths are taken inside `directory`. The signing certificate is the one whose
    public key matches the key; the other certificates of the file form its chain.
    """
    folder = Path(directory)
    cert_path = folder / cert_file
    try:
        cert_data = cert_path.read_bytes()
    except OSError as exc:
        raise CryptoError(f"Cannot read the CA certificate {cert_path}: {exc.strerror}") from None
    certs = load_certificates(cert_data)
    if not certs:
        raise CryptoError(f"No certificate found in {cert_path}")
    if key_file:
        key_path = folder / key_file
        try:
            key_data = key_path.read_bytes()
        except OSError as exc:
            raise CryptoError(f"Cannot read the CA key {key_path}: {exc.strerror}") from None
        key = load_key(key_data, password, source=str(key_path))
    elif b"PRIVATE KEY-----" in cert_data:
        key = load_key(cert_data, password, source=str(cert_path))
    else:
        raise CryptoError(f"{cert_path} holds no private key and no CA key file was given")

    signer = next((c for c in certs if public_key_matches(key, c.public_key())), None)
    if signer is None:
        raise CryptoError(
            f"The CA key does not match the CA certificate {certs[0].subject.rfc4514_string()}"
        )
    try:
        constraints = signer.extensions.get_extension_for_class(x509.BasicConstraints).value
        is_ca = constraints.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise CryptoError(f"{signer.subject.rfc4514_string()} is not a CA certificate")

    chain: list[x509.Certificate] = []
    current, rest = signer, [c for c in certs if c is not signer]
    while current.subject != current.issuer:
        issuer = next((c for c in rest if c.subject == current.issuer), None)
        if issuer is None:
            break
        chain.append(issuer)
        rest.remove(issuer)
        current = issuer
    return OwnCA(signer, key, chain)
