"""The chain check after every collection: does the new certificate belong to our key, name
what was ordered, chain to a trusted root and hold valid dates?

Two layers. The signature path is built by hand (`verify_directly_issued_by`), so every key
type and digest certdesk can order is checked, Ed25519 and SHA-3 included. Then the same
chain goes through `cryptography.x509.verification` (the CA/Browser Forum web PKI profile);
a chain that only fails that profile (an Ed25519 Own CA, say) is a warning, not a failure.
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import verification
from cryptography.x509.oid import NameOID

from ..model import ChainResult, Order
from ..names import to_alabel
from .keys import CryptoError, PrivateKey, describe_key, public_key_matches

__all__ = [
    "ChainReport",
    "check_chain",
    "apply_chain_report",
    "load_certificates",
    "cert_cn",
    "cert_dns_names",
    "is_self_signed",
    "names_cover",
    "pick_leaf",
    "system_roots",
]

INFO_LIMIT = 800  # ICS truncates NewCertChainInfo to this when it stores it


@dataclass
class ChainReport:
    result: ChainResult
    info: str = ""
    errors: str = ""  # `Chain Warning - ...` / `Chain Failed - ...`, blank when OK
    not_before: datetime | None = None  # UTC
    not_after: datetime | None = None
    cn: str = ""
    sans: str = ""  # DNS names joined with `, `
    chain: list[x509.Certificate] = field(default_factory=list)  # leaf first, root last


def load_certificates(*sources: bytes | str) -> list[x509.Certificate]:
    """Every certificate in the PEM (or single DER) blobs given, in order."""
    certs: list[x509.Certificate] = []
    for data in sources:
        if isinstance(data, str):
            data = data.encode()
        if not data.strip():
            continue
        try:
            if b"-----BEGIN" in data:
                if b"-----BEGIN CERTIFICATE-----" not in data:
                    continue  # a key or CSR block only
                certs.extend(x509.load_pem_x509_certificates(_cert_blocks(data)))
            else:
                certs.append(x509.load_der_x509_certificate(data))
        except ValueError:
            raise CryptoError("A certificate is corrupt or not in PEM/DER form") from None
    return certs


def _cert_blocks(data: bytes) -> bytes:
    # load_pem_x509_certificates refuses a bundle with a key in it: keep certificate blocks.
    out, pos = [], 0
    begin, end = b"-----BEGIN CERTIFICATE-----", b"-----END CERTIFICATE-----"
    while (start := data.find(begin, pos)) >= 0:
        stop = data.find(end, start)
        if stop < 0:
            raise ValueError("unterminated certificate")
        out.append(data[start : stop + len(end)])
        pos = stop + len(end)
    return b"\n".join(out) + b"\n"


def cert_cn(cert: x509.Certificate) -> str:
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


def cert_dns_names(cert: x509.Certificate) -> list[str]:
    """DNS and IP SANs, as written in the certificate."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [*ext.get_values_for_type(x509.DNSName)] + [
        str(ip) for ip in ext.get_values_for_type(x509.IPAddress)
    ]


def is_self_signed(cert: x509.Certificate) -> bool:
    if cert.subject != cert.issuer:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _norm(name: str) -> str:
    try:
        return str(ipaddress.ip_address(name.strip()))
    except ValueError:
        return to_alabel(name)


def names_cover(cert_names: list[str], wanted: str) -> bool:
    """Whether a certificate naming `cert_names` serves `wanted` (exact, or by a wildcard)."""
    want = _norm(wanted)
    have = {_norm(n) for n in cert_names}
    if want in have:
        return True
    if not want.startswith("*.") and "." in want:
        return "*." + want.split(".", 1)[1] in have
    return False


def pick_leaf(
    certs: list[x509.Certificate], names: list[str]
) -> tuple[x509.Certificate, list[x509.Certificate]]:
    """ICS's rule: the certificate whose CN or SAN matches is the leaf; the others are
    intermediates, less self-signed roots. Falls back to the first non-CA certificate."""
    if not certs:
        raise CryptoError("No certificate was received")
    leaf = None
    for cert in certs:
        own = [cert_cn(cert), *cert_dns_names(cert)]
        if any(names_cover(own, n) for n in names if n):
            leaf = cert
            break
    if leaf is None:
        leaf = next((c for c in certs if not _is_ca(c)), certs[0])
    others = [c for c in certs if c is not leaf and not is_self_signed(c)]
    return leaf, others


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def system_roots() -> list[x509.Certificate]:
    """The system trust store, read from where OpenSSL (and so `ssl`) looks."""
    paths = ssl.get_default_verify_paths()
    certs: list[x509.Certificate] = []
    for name in (paths.cafile, paths.openssl_cafile):
        if name and Path(name).is_file():
            try:
                certs = load_certificates(Path(name).read_bytes())
            except (CryptoError, OSError):
                continue
            if certs:
                return certs
    capath = paths.capath or paths.openssl_capath
    if capath and Path(capath).is_dir():
        for item in sorted(Path(capath).iterdir()):
            if item.suffix in (".pem", ".crt") or item.name[-2:-1] == ".":
                try:
                    certs.extend(load_certificates(item.read_bytes()))
                except (CryptoError, OSError):
                    continue
    return certs


def _describe(cert: x509.Certificate) -> str:
    sig = cert.signature_hash_algorithm
    return (
        f"Subject: {cert.subject.rfc4514_string()}; Issuer: {cert.issuer.rfc4514_string()}; "
        f"Expires: {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC; "
        f"Key: {describe_key(cert.public_key())}; Signed: {sig.name.upper() if sig else 'EdDSA'}"
    )


def _build_path(
    leaf: x509.Certificate, pool: list[x509.Certificate], roots: list[x509.Certificate]
) -> tuple[list[x509.Certificate], str]:
    """Follow issuers from the leaf until a trusted root; (path, problem or '')."""
    trusted = {r.public_bytes(serialization.Encoding.DER) for r in roots}
    path = [leaf]
    current = leaf
    for _ in range(10):
        if current.public_bytes(serialization.Encoding.DER) in trusted and len(path) > 1:
            return path, ""
        for candidate in [*roots, *pool]:
            if candidate.subject != current.issuer or candidate in path:
                continue
            try:
                current.verify_directly_issued_by(candidate)
            except (InvalidSignature, ValueError, TypeError):
                continue
            if not _is_ca(candidate):
                return path, f"{candidate.subject.rfc4514_string()} is not a CA certificate"
            path.append(candidate)
            current = candidate
            break
        else:
            if current.public_bytes(serialization.Encoding.DER) in trusted:
                return path, ""  # the leaf is itself trusted (a pinned self-signed cert)
            return path, (f"no trusted root found for issuer {current.issuer.rfc4514_string()}")
    return path, "the chain is too long"


def check_chain(
    leaf_pem: bytes | str,
    chain_pems: list[bytes] | list[str],
    key: PrivateKey | None,
    expected_names: list[str],
    trust_roots_pems: list[bytes] | list[str] | bytes | str | None = None,
    now: datetime | None = None,
) -> ChainReport:
    now = now or datetime.now(UTC)
    try:
        certs = load_certificates(leaf_pem, *chain_pems)
        leaf, pool = pick_leaf(certs, expected_names)
        if trust_roots_pems is None:
            roots = system_roots()
        elif isinstance(trust_roots_pems, bytes | str):
            roots = load_certificates(trust_roots_pems)
        else:
            roots = load_certificates(*trust_roots_pems)
    except CryptoError as exc:
        return ChainReport(ChainResult.chainFail, errors=f"Chain Failed - {exc}")

    failures: list[str] = []
    warnings: list[str] = []
    names = cert_dns_names(leaf)
    report = ChainReport(
        ChainResult.chainOK,
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        cn=cert_cn(leaf),
        sans=", ".join(names),
    )

    if key is not None and not public_key_matches(key, leaf.public_key()):
        failures.append("the certificate does not match the private key")
    missing = [n for n in expected_names if n and not names_cover([report.cn, *names], n)]
    if missing:
        failures.append("the certificate does not name " + ", ".join(missing))
    if not roots:
        failures.append("no trusted root certificates to check against")

    path, problem = _build_path(leaf, pool, roots)
    if problem:
        failures.append(problem)
    for cert in path:
        if now < cert.not_valid_before_utc:
            failures.append(
                f"{cert.subject.rfc4514_string()} is not valid before "
                f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M:%S} UTC"
            )
        elif now > cert.not_valid_after_utc:
            failures.append(
                f"{cert.subject.rfc4514_string()} expired "
                f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC"
            )
    if not failures:
        lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
        if leaf.not_valid_after_utc - now < min(timedelta(days=30), lifetime / 3):
            warnings.append(f"the certificate expires soon ({leaf.not_valid_after_utc:%Y-%m-%d})")
        if policy := _webpki_problem(leaf, pool, roots, names, now):
            warnings.append(f"not acceptable to web browsers: {policy}")

    report.chain = path
    report.info = "\n".join(f"#{i + 1} {_describe(c)}" for i, c in enumerate(path))
    if failures:
        report.result = ChainResult.chainFail
        report.errors = "Chain Failed - " + "; ".join(failures)
    elif warnings:
        report.result = ChainResult.chainWarn
        report.errors = "Chain Warning - " + "; ".join(warnings)
    return report


def _webpki_problem(
    leaf: x509.Certificate,
    pool: list[x509.Certificate],
    roots: list[x509.Certificate],
    names: list[str],
    now: datetime,
) -> str:
    """Why the CA/B Forum profile refuses the chain, or ''."""
    if not names:
        return "the certificate has no subject alternative names"
    first = names[0]
    subject: verification.Subject
    try:
        subject = verification.IPAddress(ipaddress.ip_address(first))
    except ValueError:
        host = "certdesk-check." + first[2:] if first.startswith("*.") else first
        subject = verification.DNSName(host)
    try:
        verifier = (
            verification.PolicyBuilder()
            .store(verification.Store(roots))
            .time(now)
            .build_server_verifier(subject)
        )
        verifier.verify(leaf, pool)
    except verification.VerificationError as exc:
        return str(exc)
    except (ValueError, TypeError) as exc:
        return str(exc)
    return ""


def apply_chain_report(order: Order, report: ChainReport) -> None:
    """Fill the order's NewCert* fields from a chain check (ICS stores 800 chars of info)."""
    order.chain_result = report.result
    order.cert_chain_info = report.info[:INFO_LIMIT]
    order.cert_errors = report.errors
    order.cert_not_before = report.not_before
    order.cert_not_after = report.not_after
    order.cert_sans = report.sans
    order.cert_cn = report.cn
