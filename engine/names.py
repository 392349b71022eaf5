"""Names: validating certificate names, IDN A-labels, and the friendly command-line names.

The friendly names (`ec256`, `file-srv`, `bundle,p12`) are what people type; the ICS enum
names are what the database stores. The mapping lives here and nowhere else.
"""

from __future__ import annotations

import ipaddress
import re

from .model import (
    ChallengeType,
    Digest,
    IcsEnum,
    OutFmt,
    PrivKeyCipher,
    PrivKeyType,
    SerNumType,
    SupplierProto,
)

__all__ = [
    "NameError_",
    "to_alabel",
    "to_ulabel",
    "validate_cn",
    "validate_san",
    "is_ip",
    "KEY_TYPES",
    "DIGESTS",
    "CHALLENGES",
    "FORMATS",
    "CIPHERS",
    "SERIALS",
    "SUPPLIERS",
    "friendly",
    "parse_friendly",
    "parse_formats",
    "format_formats",
]


class NameError_(ValueError):
    """A name that cannot be on a certificate; the message says why."""


_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def to_alabel(name: str) -> str:
    """The ASCII (punycode) form of a DNS name, keeping a leading `*.`; IPs unchanged."""
    name = name.strip().rstrip(".").lower()
    if is_ip(name):
        return name
    prefix = ""
    if name.startswith("*."):
        prefix, name = "*.", name[2:]
    try:
        return prefix + ".".join(
            label.encode("idna").decode("ascii") if not label.isascii() else label
            for label in name.split(".")
        )
    except UnicodeError as exc:
        raise NameError_(f"{prefix}{name!r} is not a valid internationalised name: {exc}") from None


def to_ulabel(name: str) -> str:
    """The Unicode form of a DNS name (ICS stores IDNs in Unicode)."""
    prefix = ""
    if name.startswith("*."):
        prefix, name = "*.", name[2:]
    try:
        return prefix + ".".join(
            label.encode("ascii").decode("idna") if label.startswith("xn--") else label
            for label in name.split(".")
        )
    except UnicodeError:
        return prefix + name


def validate_san(name: str, *, allow_wildcard: bool = True) -> str:
    """Check a name for a certificate; return it normalised (lower case, Unicode form)."""
    if not name or not name.strip():
        raise NameError_("a name is empty")
    raw = name.strip().rstrip(".").lower()
    if is_ip(raw):
        return str(ipaddress.ip_address(raw))
    alabel = to_alabel(raw)
    labels = alabel.split(".")
    if labels[0] == "*":
        if not allow_wildcard:
            raise NameError_(f"{name!r}: a wildcard is not allowed here")
        labels = labels[1:]
    if "*" in alabel[1:]:
        raise NameError_(f"{name!r}: a wildcard may only be the whole first label (*.example.com)")
    if len(labels) < 2:
        raise NameError_(f"{name!r} is not a fully qualified domain name (it needs a dot)")
    if len(alabel) > 253:
        raise NameError_(f"{name!r} is longer than 253 characters")
    for label in labels:
        if not _LABEL.match(label):
            raise NameError_(
                f"{name!r}: label {label!r} must be 1-63 letters, digits or hyphens, "
                "not starting or ending with a hyphen"
            )
    if labels[-1].isdigit():
        raise NameError_(f"{name!r}: the top-level label cannot be all digits")
    return to_ulabel(alabel)


def validate_cn(name: str) -> str:
    """A Common Name: a DNS name or wildcard (ICS also allows CA names with spaces, which
    certdesk only accepts for the Own CA's own certificates, not for orders)."""
    if " " in name.strip():
        raise NameError_(f"{name!r}: a certificate name cannot contain spaces")
    return validate_san(name)


# --------------------------------------------------------------------------------------
# Friendly names <-> ICS enums

KEY_TYPES: dict[str, PrivKeyType] = {
    "rsa2048": PrivKeyType.PrivKeyRsa2048,
    "rsa3072": PrivKeyType.PrivKeyRsa3072,
    "rsa4096": PrivKeyType.PrivKeyRsa4096,
    "ec256": PrivKeyType.PrivKeyECsecp256,
    "ec384": PrivKeyType.PrivKeyECsecp384,
    "ec521": PrivKeyType.PrivKeyECsecp512,
    "ed25519": PrivKeyType.PrivKeyEd25519,
}

DIGESTS: dict[str, Digest] = {
    "sha256": Digest.Digest_sha256,
    "sha384": Digest.Digest_sha384,
    "sha512": Digest.Digest_sha512,
    "sha3-256": Digest.Digest_sha3_256,
    "sha3-384": Digest.Digest_sha3_384,
    "sha3-512": Digest.Digest_sha3_512,
}

CHALLENGES: dict[str, ChallengeType] = {
    "file-dir": ChallengeType.ChallFileUNC,
    "file-ftp": ChallengeType.ChallFileFtp,
    "file-srv": ChallengeType.ChallFileSrv,
    "dns-manual": ChallengeType.ChallDnsMan,
    "dns-auto": ChallengeType.ChallDnsAuto,
    "alpn-srv": ChallengeType.ChallAlpnSrv,
    "alpn-dir": ChallengeType.ChallAlpnUNC,
    "email": ChallengeType.ChallEmail,
    "manual": ChallengeType.ChallManual,
    "none": ChallengeType.ChallNone,
}

FORMATS: dict[str, OutFmt] = {
    "sep": OutFmt.OutFmtSep,
    "bundle": OutFmt.OutFmtBudl,
    "p12": OutFmt.OutFmtP12,
    "p7": OutFmt.OutFmtP7,
    "csr": OutFmt.OutFmtReq,
    "pem-password": OutFmt.OutFmtPwPem,
    "p12-password": OutFmt.OutFmtPwP12,
}

CIPHERS: dict[str, PrivKeyCipher] = {
    "none": PrivKeyCipher.PrivKeyEncNone,
    "aes128": PrivKeyCipher.PrivKeyEncAES128,
    "aes192": PrivKeyCipher.PrivKeyEncAES192,
    "aes256": PrivKeyCipher.PrivKeyEncAES256,
}

SERIALS: dict[str, SerNumType] = {
    "random": SerNumType.SerNumRandom,
    "sequential": SerNumType.SerNumSequential,
}

SUPPLIERS: dict[str, SupplierProto] = {
    "acme": SupplierProto.SuppProtoAcmeV2,
    "ownca": SupplierProto.SuppProtoOwnCA,
    "certcentre": SupplierProto.SuppProtoCertCentre,
}

_TABLES: list[dict[str, IcsEnum]] = [
    KEY_TYPES,
    DIGESTS,
    CHALLENGES,
    FORMATS,
    CIPHERS,
    SERIALS,
    SUPPLIERS,
]


def friendly(value: IcsEnum) -> str:
    """The friendly name of an enum value, or its ICS name when it has none."""
    for table in _TABLES:
        for name, member in table.items():
            if member is value:
                return name
    return value.name


def parse_friendly(table: dict[str, IcsEnum], text: str, what: str) -> IcsEnum:
    """A friendly name (or, for people used to ICS, the ICS name itself)."""
    key = text.strip().lower()
    if key in table:
        return table[key]
    for member in table.values():
        if member.name.lower() == key:
            return member
    raise NameError_(f"unknown {what} {text!r}; choose one of: {', '.join(table)}")


def parse_formats(text: str) -> frozenset[OutFmt]:
    """`bundle,p12` -> {OutFmtBudl, OutFmtP12}."""
    items = [item for item in re.split(r"[,\s]+", text.strip()) if item]
    if not items:
        raise NameError_(f"no output format given; choose from: {', '.join(FORMATS)}")
    return frozenset(parse_friendly(FORMATS, item, "output format") for item in items)


def format_formats(formats: frozenset[OutFmt]) -> str:
    return ",".join(friendly(f) for f in sorted(formats))
