"""The data model: an account, its certificate orders, their SANs and challenges.

Every enum member is named exactly as ICS TSslX509Certs V9.4 stores it in `ics-control.db`
(Delphi's GetEnumName), and its integer value is the Delphi ordinal, because ICS compares
states by ordinal (``state >= IssStateChallgPend``).

Every dataclass field carries the ICS key it is stored under (``ics_key``); the field order
is ICS's write order, so `icsdb` can map records to sections by walking the fields.
Fields whose key starts with ``Cd`` are certdesk's own additions: ICS keeps unknown keys
in its in-memory INI, so they survive a round trip through the Delphi component.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, ClassVar

__all__ = [
    "IcsEnum",
    "IssueState",
    "ChallengeType",
    "SupplierProto",
    "PrivKeyType",
    "Digest",
    "PrivKeyCipher",
    "OutFmt",
    "CsrOrigin",
    "SerNumType",
    "ChainResult",
    "DebugLevel",
    "MsCertLoc",
    "Account",
    "Order",
    "San",
    "Challenge",
    "ics_key",
    "as_utc",
    "as_local",
    "ics_fields",
]


class IcsEnum(enum.IntEnum):
    """An enum stored by its Delphi identifier, compared by its Delphi ordinal."""

    # Display strings, as ICS's *Lits tables show them; filled per subclass.
    _display_: ClassVar[dict[str, str]]

    @property
    def display(self) -> str:
        return type(self)._display_.get(self.name, self.name)

    @classmethod
    def parse(cls, text: str, default: IcsEnum | None = None):
        """Case-insensitive lookup of a stored name (GetEnumValue); `default` when unknown."""
        wanted = text.strip().lower()
        for member in cls:
            if member.name.lower() == wanted:
                return member
        if default is not None:
            return default
        raise ValueError(f"{text!r} is not a {cls.__name__} name")

    def __str__(self) -> str:
        return self.name


def _lits(cls: type[IcsEnum], *names: str) -> None:
    cls._display_ = dict(zip((m.name for m in cls), names, strict=True))


class IssueState(IcsEnum):
    IssStateNone = 0
    IssStateAccount = 1
    IssStateChecked = 2
    IssStateChallgReq = 3
    IssStateChallgWaitTest = 4
    IssStateChallgTest = 5
    IssStateChallgPend = 6
    IssStateChallgOK = 7
    IssStateCollect = 8
    IssStateInstall = 9
    IssStateCancel = 10


_lits(
    IssueState,
    "None",
    "Ready",
    "Checked",
    "Challg Request",
    "Challg Wait",
    "Challg Test",
    "Challg Pending",
    "Challg OK",
    "Collected",
    "Installed",
    "Cancelled",
)


class ChallengeType(IcsEnum):
    ChallNone = 0
    ChallFileUNC = 1
    ChallFileFtp = 2
    ChallFileSrv = 3
    ChallFileApp = 4
    ChallDnsAuto = 5
    ChallDnsMan = 6
    ChallEmail = 7
    ChallAlpnUNC = 8
    ChallAlpnSrv = 9
    ChallAlpnApp = 10
    ChallManual = 11

    @property
    def acme_type(self) -> str | None:
        """The ACME challenge type this method answers, or None (email, manual)."""
        return _ACME_TYPE.get(self)

    @property
    def is_dns(self) -> bool:
        return self in (ChallengeType.ChallDnsAuto, ChallengeType.ChallDnsMan)

    @property
    def is_http(self) -> bool:
        return _ACME_TYPE.get(self) == "http-01"


_lits(
    ChallengeType,
    "None",
    "File - Web Server - UNC",
    "File - Web Server - FTP",
    "File - Local Web Server",
    "File - App Web Server",
    "DNS - Automatic",
    "DNS - Manual",
    "Email Manually",
    "TLS-ALPN - Web UNC",
    "TLS-ALPN - Local Web",
    "TLS-ALPN - App Web",
    "Manual",
)

_ACME_TYPE = {
    ChallengeType.ChallFileUNC: "http-01",
    ChallengeType.ChallFileFtp: "http-01",
    ChallengeType.ChallFileSrv: "http-01",
    ChallengeType.ChallFileApp: "http-01",
    ChallengeType.ChallDnsAuto: "dns-01",
    ChallengeType.ChallDnsMan: "dns-01",
    ChallengeType.ChallAlpnUNC: "tls-alpn-01",
    ChallengeType.ChallAlpnSrv: "tls-alpn-01",
    ChallengeType.ChallAlpnApp: "tls-alpn-01",
}


class SupplierProto(IcsEnum):
    SuppProtoNone = 0
    SuppProtoOwnCA = 1
    SuppProtoAcmeV2 = 2
    SuppProtoCertCentre = 3
    SuppProtoServtas = 4

    @property
    def file_prefix(self) -> str:
        """The prefix of this supplier's certificate file names (ICS section 7)."""
        return {
            SupplierProto.SuppProtoAcmeV2: "LE-",
            SupplierProto.SuppProtoCertCentre: "CC-",
        }.get(self, "OwnCA-")


_lits(SupplierProto, "None", "Own CA", "AcmeV2", "CertCentre", "Servertastic")


class PrivKeyType(IcsEnum):
    PrivKeyRsa1024 = 0
    PrivKeyRsa2048 = 1
    PrivKeyRsa3072 = 2
    PrivKeyRsa4096 = 3
    PrivKeyRsa7680 = 4
    PrivKeyRsa15360 = 5
    PrivKeyECsecp256 = 6
    PrivKeyECsecp384 = 7
    PrivKeyECsecp512 = 8
    PrivKeyEd25519 = 9
    PrivKeyRsaPss2048 = 10
    PrivKeyRsaPss3072 = 11
    PrivKeyRsaPss4096 = 12
    PrivKeyRsaPss7680 = 13
    PrivKeyRsaPss15360 = 14
    PrivKeyECsecp256k = 15


_lits(
    PrivKeyType,
    "RSA 1,024 bits (level 1 - 80 bits)",
    "RSA 2,048 bits (level 2 - 112 bits)",
    "RSA 3,072 bits (level 3 - 128 bits)",
    "RSA 4,096 bits (level 3 - 128 bits)",
    "RSA 7,680 bits (level 4 - 192 bits)",
    "RSA 15,360 bits (level 5 - 256 bits)",
    "Elliptic Curve secp256  (level 3 - 128 bits)",
    "Elliptic Curve secp384  (level 4 - 192 bits)",
    "Elliptic Curve secp512  (level 5 - 256 bits)",
    "EdDSA ED25519 (level 3 - 128 bits)",
    "RSA-PSS 2,048 bits (level 2 - 112 bits)",
    "RSA-PSS 3,072 bits (level 3 - 128 bits)",
    "RSA-PSS 4,096 bits (level 3 - 128 bits)",
    "RSA-PSS 7,680 bits (level 4 - 192 bits)",
    "RSA-PSS 15,360 bits (level 5 - 256 bits)",
    "Elliptic Curve secp256k  (level 3 - 128 bits)",
)


class Digest(IcsEnum):
    Digest_md5 = 0
    Digest_mdc2 = 1
    Digest_sha1 = 2
    Digest_sha224 = 3
    Digest_sha256 = 4
    Digest_sha384 = 5
    Digest_sha512 = 6
    Digest_ripemd160 = 7
    Digest_sha3_224 = 8
    Digest_sha3_256 = 9
    Digest_sha3_384 = 10
    Digest_sha3_512 = 11
    Digest_shake128 = 12
    Digest_shake256 = 13
    Digest_None = 14


_lits(
    Digest,
    "MD5",
    "MDC2",
    "SHA1 (old)",
    "SHA224",
    "SHA256",
    "SHA384",
    "SHA512",
    "RIPEMD_160",
    "SHA3_224",
    "SHA3_256",
    "SHA3_384",
    "SHA3_512",
    "SHAKE_128",
    "SHAKE_256",
    "None",
)


class PrivKeyCipher(IcsEnum):
    PrivKeyEncNone = 0
    PrivKeyEncTripleDES = 1
    PrivKeyEncIDEA = 2
    PrivKeyEncAES128 = 3
    PrivKeyEncAES192 = 4
    PrivKeyEncAES256 = 5


_lits(PrivKeyCipher, "None", "Triple DES", "IDEA", "AES128", "AES192", "AES256")


class OutFmt(IcsEnum):
    OutFmtSep = 0
    OutFmtBudl = 1
    OutFmtP12 = 2
    OutFmtP7 = 3
    OutFmtReq = 4
    OutFmtPwPem = 5
    OutFmtPwP12 = 6
    OutFmtWinStore = 7


_lits(
    OutFmt,
    "Separate PEM files",
    "PEM bundle",
    "PKCS12 PFX",
    "PKCS7",
    "CSR",
    "Encrypt PEM keys",
    "Password PFX",
    "Windows store",
)


class CsrOrigin(IcsEnum):
    CsrOriginProps = 0
    CsrOriginFile = 1


_lits(CsrOrigin, "From properties", "From old CSR file")


class SerNumType(IcsEnum):
    SerNumRandom = 0
    SerNumSequential = 1


_lits(SerNumType, "Random", "Sequential")


class ChainResult(IcsEnum):
    chainOK = 0
    chainFail = 1
    chainWarn = 2
    chainNone = 3


_lits(ChainResult, "OK", "Failed", "Warning", "None")


class DebugLevel(IcsEnum):
    DebugNone = 0
    DebugConn = 1
    DebugParams = 2
    DebugSsl = 3
    DebugHdr = 4
    DebugBody = 5
    DebugSslLow = 6


_lits(DebugLevel, "None", "Connection", "Parameters", "SSL", "Headers", "Body", "SSL Low")


class MsCertLoc(IcsEnum):
    MsLocCurUser = 0
    MsLocMachine = 1
    MsLocServices = 2
    MsLocCurServ = 3
    MsLocUsers = 4


_lits(MsCertLoc, "Current User", "Local Machine", "Services", "Current Service", "Users")


# --------------------------------------------------------------------------------------
# Records


def as_utc(moment: datetime | None) -> datetime | None:
    """A certificate date as an aware UTC datetime (a naive one is taken to be UTC).

    Fields stored with `utc=True` (NewCertStartDT/EndDT) hold aware UTC datetimes; the
    other dates are local time, naive, as ICS writes them from `Now`.
    """
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def as_local(moment: datetime | None) -> datetime | None:
    """A date for a local-time field (ChallgExpireDT, CExpireDT...): naive local time, as
    ICS converts the ACME `expires` stamps."""
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone().replace(tzinfo=None)


def ics_key(
    key: str, default: Any = "", *, multiline: bool = False, bool01: bool = False, utc: bool = False
) -> Any:
    """A dataclass field stored under ICS key `key`.

    multiline: CRLF is escaped as the two characters ``\\n`` (IcsEscapeCRLF).
    bool01: a boolean written ``1``/``0`` (Delphi WriteBool) rather than ``True``/``False``.
    utc: a date stored in UTC (certificate dates); other dates are local time.
    """
    meta = {"ics": key, "multiline": multiline, "bool01": bool01, "utc": utc}
    if isinstance(default, (list, set, frozenset, dict)):
        factory = type(default)
        return field(default_factory=lambda: factory(default), metadata=meta)
    return field(default=default, metadata=meta)


def ics_fields(record_type: type) -> list:
    """The dataclass fields of a record that map to ICS keys, in write order."""
    return [f for f in fields(record_type) if "ics" in f.metadata]


@dataclass
class Account:
    """The `[account]` section: one supplier account in one directory."""

    debug_level: DebugLevel = ics_key("DebugLevel", DebugLevel.DebugConn)
    work_dir: str = ics_key("DirCertWork")
    web_server_ip: str = ics_key("DomWebSrvIP", "0.0.0.0")
    log_json: bool = ics_key("LogJson", False)
    log_private_keys: bool = ics_key("LogPkeys", False)
    email: str = ics_key("SupplierEmail")
    supplier: SupplierProto = ics_key("SupplierProto", SupplierProto.SuppProtoNone)
    server: str = ics_key("SupplierServer")
    title: str = ics_key("SupplierTitle")
    next_order_num: int = ics_key("SeqOrderNum", 1001)
    oauth_token: str = ics_key("OAAccToken")
    acme_key_type: PrivKeyType = ics_key("AcmeAccKeyType", PrivKeyType.PrivKeyECsecp256)
    acme_account_num: str = ics_key("AcmeAccountNum")
    acme_account_url: str = ics_key("AcmeAccountUrl")
    ca_cert_file: str = ics_key("CACertFile")
    ca_key_file: str = ics_key("CAPkeyFile")
    ca_key_password: str = ics_key("CAPkeyPw")
    # certdesk additions
    ca_bundle: str = ics_key("CdCaBundle")  # trust for the supplier's TLS (tests: Pebble's)
    trust_roots: str = ics_key("CdTrustRoots")  # roots the chain check trusts (else the system's)
    http_listen: str = ics_key("CdHttpListen")  # built-in http-01 server, ADDR:PORT
    alpn_listen: str = ics_key("CdAlpnListen")  # built-in tls-alpn-01 server, ADDR:PORT
    poll_interval: int = ics_key("CdPollInterval", 10)  # seconds between queue checks
    concurrency: int = ics_key("CdConcurrency", 10)  # orders in flight at once
    renew_days: int = ics_key("CdRenewDays", 30)  # renew when fewer days are left
    notify_email: str = ics_key("CdNotifyEmail")
    notify_command: str = ics_key("CdNotifyCommand")
    smtp_server: str = ics_key("CdSmtpServer")
    crl_url: str = ics_key("CdCrlUrl")  # Own CA: CRL distribution point put into certs
    preferred_chain: str = ics_key("CdPreferredChain")  # ACME: issuer CN of the wanted chain
    # How the self-test reaches a name as the CA will: which resolver (HOST:PORT, blank = the
    # system's) and which ports the CA validates on (80 and 443 in production).
    resolver: str = ics_key("CdResolver")
    validation_http_port: int = ics_key("CdValidationHttpPort", 80)
    validation_tls_port: int = ics_key("CdValidationTlsPort", 443)

    @property
    def exists(self) -> bool:
        """ICS: an account without a supplier protocol does not exist."""
        return self.supplier != SupplierProto.SuppProtoNone


@dataclass
class San:
    """A `[san-<cn>=<san>]` section: one name on a certificate, with its validation state."""

    domain: str = ics_key("Domain")
    well_known_dir: str = ics_key("DirWellKnown")
    pub_web_dir: str = ics_key("DirPubWebCert")
    approval_email: str = ics_key("ApprovalEmail")
    issue_state: IssueState = ics_key("SAIssueState", IssueState.IssStateNone)
    start: datetime | None = ics_key("SAStartDT", None)
    done: datetime | None = ics_key("SADoneDT", None)
    valid_result: str = ics_key("SAValidResult")

    @property
    def is_wildcard(self) -> bool:
        return self.domain.startswith("*.")


@dataclass
class Order:
    """A `[domain-<cn>]` section: one certificate and its current order.

    ICS calls this record a "domain"; certdesk calls it an order, since each one carries
    the state of the supplier order that produces its certificate.
    """

    acme_finalize_url: str = ics_key("AcmeOrderFinalizeUrl")
    acme_order_url: str = ics_key("AcmeOrderObjUrl")
    address: str = ics_key("CertAddress")
    approver_email: str = ics_key("CertApprovEmail")
    common_name: str = ics_key("CertCommonName")
    contact_email: str = ics_key("CertContactEmail")
    contact_first: str = ics_key("CertContactFirst")
    contact_last: str = ics_key("CertContactLast")
    contact_title: str = ics_key("CertContactTitle")
    country: str = ics_key("CertCountry")
    csr_origin: CsrOrigin = ics_key("CertCsrOrigin", CsrOrigin.CsrOriginProps)
    locality: str = ics_key("CertLocality")
    old_csr_file: str = ics_key("CertOldCsrFile")
    old_key_file: str = ics_key("CertOldPrvKey")
    org_unit: str = ics_key("CertOrgUnit")
    organization: str = ics_key("CertOrganization")
    out_formats: frozenset[OutFmt] = ics_key(
        "CertOutFmts", frozenset({OutFmt.OutFmtSep, OutFmt.OutFmtBudl})
    )
    phone: str = ics_key("CertPhone")
    post_code: str = ics_key("CertPostCode")
    serial_type: SerNumType = ics_key("CertSerNumType", SerNumType.SerNumRandom)
    digest: Digest = ics_key("CertSignDigestType", Digest.Digest_sha256)
    subject_state: str = ics_key("CertState")  # the subject's state/province, not the issue state
    validity_days: int = ics_key("CertValidity", 365)
    challenges_done: datetime | None = ics_key("ChallgDoneDT", None)
    challenges_expire: datetime | None = ics_key("ChallgExpireDT", None)
    challenges_start: datetime | None = ics_key("ChallgStartDT", None)
    pub_web_dirs: list[str] = ics_key("DirPubWebCert", [])
    well_known_dir: str = ics_key("DirWellKnown")
    file_bundle: str = ics_key("FileFinalBundle")
    file_csr: str = ics_key("FileFinalCSR")
    file_cert: str = ics_key("FileFinalCert")
    file_key: str = ics_key("FileFinalPrvKey")
    issue_state: IssueState = ics_key("IssueState", IssueState.IssStateNone)
    cert_cn: str = ics_key("NewCertCN")
    cert_chain_info: str = ics_key("NewCertChainInfo", multiline=True)
    cert_not_after: datetime | None = ics_key("NewCertEndDT", None, utc=True)
    cert_errors: str = ics_key("NewCertErrs", multiline=True)
    cert_sans: str = ics_key("NewCertSAN")
    cert_not_before: datetime | None = ics_key("NewCertStartDT", None, utc=True)
    chain_result: ChainResult = ics_key("NewCertValRes", ChainResult.chainNone)
    order_num: int = ics_key("NewOrderNum", 0)
    order_attempts: int = ics_key("OrderAttempts", 0)
    certs_collected: datetime | None = ics_key("OrderCertsDT", None)
    order_start: datetime | None = ics_key("OrderStartDT", None)
    part_fname_final: str = ics_key("PartFNameFinal")
    part_fname_order: str = ics_key("PartFNameOrder")
    part_fname_server: list[str] = ics_key("PartFNameServer", [])
    pending_challenges: int = ics_key("PendingChallg", 0)
    key_cipher: PrivKeyCipher = ics_key("PrivKeyCipher", PrivKeyCipher.PrivKeyEncNone)
    key_password: str = ics_key("PrivKeyPassword")
    key_type: PrivKeyType = ics_key("PrivKeyType", PrivKeyType.PrivKeyECsecp256)
    product_cert_type: str = ics_key("ProductCertType")
    product_dv_auth: str = ics_key("ProductDVAuth")
    product_features: str = ics_key("ProductFeatures")
    product_max_san: int = ics_key("ProductMaxSan", 0)
    product_quote: str = ics_key("ProductQuote")
    challenge_type: ChallengeType = ics_key("SuppCertChallenge", ChallengeType.ChallNone)
    supp_order_id: str = ics_key("SuppOrderId")
    supp_order_ref: str = ics_key("SuppOrderRef")
    product: str = ics_key("SuppCertProduct")
    product_ca: str = ics_key("ProductCA")
    challenge_srv_ip: str = ics_key("ChallgSrvIP")
    challenge_srv_ip6: str = ics_key("ChallgSrvIP2")
    # certdesk additions: how this order's challenges are answered and its files installed
    install_command: str = ics_key("CdInstallCommand")
    http_listen: str = ics_key("CdHttpListen")
    alpn_listen: str = ics_key("CdAlpnListen")
    alpn_dir: str = ics_key("CdAlpnDir")
    dns_server: str = ics_key("CdDnsServer")
    dns_zone: str = ics_key("CdDnsZone")
    dns_check_servers: list[str] = ics_key("CdDnsCheckServers", [])
    dns_timeout: int = ics_key("CdDnsTimeout", 600)
    tsig_name: str = ics_key("CdTsigName")
    tsig_secret: str = ics_key("CdTsigSecret")
    tsig_algorithm: str = ics_key("CdTsigAlgorithm", "hmac-sha256")
    ftp_server: str = ics_key("CdFtpServer")
    ftp_user: str = ics_key("CdFtpUser")
    ftp_password: str = ics_key("CdFtpPassword")
    ftp_tls: bool = ics_key("CdFtpTls", False)
    ftp_dir: str = ics_key("CdFtpDir")
    manual_instructions: str = ics_key("CdManualText", multiline=True)
    revoke_reason: int = ics_key("CdRevokeReason", -1)
    failed_validations: list[str] = ics_key("CdFailedValidations", [])  # local LE-limit guard
    # CertSubAltList is written last, after the SAN sections are rewritten.
    san_names: list[str] = ics_key("CertSubAltList", [])

    # Not stored in the domain section: the SAN records, one per name.
    sans: list[San] = field(default_factory=list)

    @property
    def is_wildcard(self) -> bool:
        return self.common_name.startswith("*.")

    def san(self, name: str) -> San | None:
        name = name.lower()
        return next((s for s in self.sans if s.domain == name), None)


@dataclass
class Challenge:
    """A `[challenge-host-<dom>]` / `[challenge-wild-<dom>]` section: one entry in the queue
    of pending challenges (one per authorization)."""

    domain: str = ics_key("CDomain")  # without `*.` for a wildcard
    wildcard: bool = ics_key("CWildcard", False, bool01=True)
    common_name: str = ics_key("CCommonName")
    san_index: int = ics_key("CSanIdx", -1)
    supp_order_id: str = ics_key("CSuppOrderId")
    well_known_dir: str = ics_key("CDirWellKnown")
    pub_web_dir: str = ics_key("CDirPubWebCert")
    wk_full_name: str = ics_key("CWKFullName")
    supplier: SupplierProto = ics_key("CSupplierProto", SupplierProto.SuppProtoNone)
    challenge_type: ChallengeType = ics_key("CType", ChallengeType.ChallNone)
    issue_state: IssueState = ics_key("CIssueState", IssueState.IssStateNone)
    authz_url: str = ics_key("CAuthzURL")
    token: str = ics_key("ChallgToken", multiline=True)
    url: str = ics_key("ChallengeURL")
    page: str = ics_key("CPage")
    key_authorization: str = ics_key("CResp", multiline=True)
    dns_value: str = ics_key("CDNSValue")
    alpn_cert: str = ics_key("CAcmeAlpnCert")
    start: datetime | None = ics_key("CStartDT", None)
    done: datetime | None = ics_key("CDoneDT", None)
    expires: datetime | None = ics_key("CExpireDT", None)
    valid_result: str = ics_key("CValidResult")

    @property
    def section_name(self) -> str:
        kind = "wild" if self.wildcard else "host"
        return f"challenge-{kind}-{self.domain.lower()}"

    @property
    def identifier(self) -> str:
        """The name as it appears on the certificate (`*.` restored for a wildcard)."""
        return f"*.{self.domain}" if self.wildcard else self.domain
