"""Certificate signing requests: built from an order's properties, or checked ("Check CSR")
when an old CSR and its key are supplied (`CsrOriginFile`)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from ..model import Order, PrivKeyType
from ..names import to_alabel
from .keys import CryptoError, PrivateKey, key_type_of, load_key, public_key_matches, signing_hash

__all__ = [
    "CsrInfo",
    "build_csr",
    "build_subject",
    "csr_names",
    "csr_to_der",
    "csr_to_pem",
    "load_csr",
    "check_csr",
    "general_names",
]


@dataclass
class CsrInfo:
    cn: str
    sans: list[str] = field(default_factory=list)
    key_type: PrivKeyType = PrivKeyType.PrivKeyECsecp256
    subject: str = ""


def general_names(names: list[str]) -> list[x509.GeneralName]:
    """DNS names as A-labels, IP addresses as IPs; duplicates dropped, order kept."""
    seen: set[str] = set()
    result: list[x509.GeneralName] = []
    for name in names:
        if not name.strip():
            continue
        try:
            ip = ipaddress.ip_address(name.strip())
        except ValueError:
            label = to_alabel(name)
            if label not in seen:
                seen.add(label)
                result.append(x509.DNSName(label))
        else:
            if str(ip) not in seen:
                seen.add(str(ip))
                result.append(x509.IPAddress(ip))
    return result


def build_subject(order: Order) -> x509.Name:
    """C, ST, L, O, OU, CN, emailAddress from the order; blank fields are left out."""
    attrs: list[x509.NameAttribute] = []
    country = order.country.strip()
    if country:
        if len(country) != 2 or not country.isalpha():
            raise CryptoError(f"Country must be a two-letter code, not {country!r}")
        attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, country.upper()))
    for oid, value in (
        (NameOID.STATE_OR_PROVINCE_NAME, order.subject_state),
        (NameOID.LOCALITY_NAME, order.locality),
        (NameOID.ORGANIZATION_NAME, order.organization),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, order.org_unit),
    ):
        if value.strip():
            attrs.append(x509.NameAttribute(oid, value.strip()))
    cn = _cn_value(order.common_name)
    if cn and len(cn) <= 64:  # a longer name only goes in the SANs
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    if order.contact_email.strip():
        attrs.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, order.contact_email.strip()))
    return x509.Name(attrs)


def _cn_value(name: str) -> str:
    name = name.strip()
    if not name:
        return ""
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return to_alabel(name)


def build_csr(order: Order, key: PrivateKey) -> x509.CertificateSigningRequest:
    """A CSR for the order's CN and SANs (the CN is always among the SANs), signed with the
    order's digest."""
    if not order.common_name.strip():
        raise CryptoError("The order has no common name")
    sans = general_names([order.common_name, *order.san_names])
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(build_subject(order))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
    )
    try:
        return builder.sign(key, signing_hash(order.digest, key))  # type: ignore[arg-type]
    except (ValueError, TypeError) as exc:
        raise CryptoError(f"Cannot sign the CSR: {exc}") from None


def csr_to_pem(csr: x509.CertificateSigningRequest) -> bytes:
    return csr.public_bytes(serialization.Encoding.PEM)


def csr_to_der(csr: x509.CertificateSigningRequest | bytes | str) -> bytes:
    """DER of a CSR given as an object, PEM or DER."""
    if not isinstance(csr, x509.CertificateSigningRequest):
        csr = load_csr(csr)
    return csr.public_bytes(serialization.Encoding.DER)


def load_csr(data: bytes | str, *, source: str = "") -> x509.CertificateSigningRequest:
    where = f" in {source}" if source else ""
    if isinstance(data, str):
        data = data.encode()
    try:
        if b"-----BEGIN" in data:
            start = data.find(b"-----BEGIN CERTIFICATE REQUEST-----")
            if start < 0:
                start = data.find(b"-----BEGIN NEW CERTIFICATE REQUEST-----")
            if start < 0:
                raise CryptoError(f"No certificate request found{where}")
            csr = x509.load_pem_x509_csr(data[start:])
        else:
            csr = x509.load_der_x509_csr(data)
    except CryptoError:
        raise
    except ValueError:
        raise CryptoError(f"The certificate request{where} is corrupt") from None
    if not csr.is_signature_valid:
        raise CryptoError(f"The certificate request{where} has a bad signature")
    return csr


def csr_names(csr: x509.CertificateSigningRequest) -> tuple[str, list[str]]:
    """The CN (or the first SAN when there is none) and the SANs (DNS names and IPs)."""
    cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    try:
        ext = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = [*ext.get_values_for_type(x509.DNSName)]
        sans += [str(ip) for ip in ext.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        sans = []
    cn = str(cns[0].value) if cns else (sans[0] if sans else "")
    if cn and cn.lower() not in (s.lower() for s in sans):
        sans.insert(0, cn)
    return cn, sans


def check_csr(csr_pem: bytes | str, key_pem: bytes | str, password: str | None = None) -> CsrInfo:
    """ICS "Check CSR": the key must belong to the CSR; CN and SANs are read from the CSR."""
    csr = load_csr(csr_pem, source="the CSR")
    key = load_key(key_pem, password, source="the CSR's key file")
    if not public_key_matches(key, csr.public_key()):
        raise CryptoError("The private key does not match the CSR (different public key)")
    cn, sans = csr_names(csr)
    if not cn:
        raise CryptoError("The CSR names no domain (no common name and no SANs)")
    return CsrInfo(
        cn=cn, sans=sans, key_type=key_type_of(key), subject=csr.subject.rfc4514_string()
    )
