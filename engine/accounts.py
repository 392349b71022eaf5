"""Creating accounts: an account directory with its `[account]` record, for each supplier.

Shared by the command line and the app, so both make the same directory the same way.
"""

from __future__ import annotations

from pathlib import Path

from . import registry
from .model import Account, PrivKeyType, SupplierProto

__all__ = [
    "AccountExists",
    "LETSENCRYPT",
    "LETSENCRYPT_STAGING",
    "ACME_PRESETS",
    "DEFAULT_TITLES",
    "new_account",
    "create_ownca_account",
    "load_ownca_account",
    "create_acme_account",
]

LETSENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
LETSENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
# Well-known ACME CAs, for forms; EAB marks the ones that need External Account Binding.
ACME_PRESETS: dict[str, tuple[str, bool]] = {
    "Let's Encrypt": (LETSENCRYPT, False),
    "Let's Encrypt staging": (LETSENCRYPT_STAGING, False),
    "ZeroSSL": ("https://acme.zerossl.com/v2/DV90", True),
    "Google Trust Services": ("https://dv.acme-v02.api.pki.goog/directory", True),
}
DEFAULT_TITLES = {
    SupplierProto.SuppProtoAcmeV2: "ACME V2",
    SupplierProto.SuppProtoOwnCA: "Own CA",
    SupplierProto.SuppProtoCertCentre: "CertCenter AG",
}


class AccountExists(Exception):
    """The directory already holds an account."""


def new_account(
    supplier: SupplierProto,
    directory: Path | None = None,
    *,
    title: str = "",
    server: str = "",
    email: str = "",
    ca_bundle: str = "",
    acme_key_type: PrivKeyType | None = None,
) -> Path:
    """Create the account directory and its database; returns the directory.

    Nothing is contacted: ACME registration happens when the supplier is first opened.
    """
    from .icsdb import AccountDB

    title = title or DEFAULT_TITLES.get(supplier, "")
    directory = Path(directory or registry.default_account_dir(title)).expanduser().resolve()
    if (directory / "ics-control.db").exists():
        probe = AccountDB.open(directory, writable=False)
        if probe.account.exists:
            raise AccountExists(
                f"{directory} already has a {probe.account.supplier.display} account"
            )
    if ca_bundle and not Path(ca_bundle).is_file():
        raise FileNotFoundError(f"CA bundle {ca_bundle}: no such file")
    if supplier == SupplierProto.SuppProtoCertCentre:
        server = server or "https://api.certcenter.com/rest/v1/"
    with AccountDB.open(directory, create=True, writable=True) as db:
        account: Account = db.account
        account.supplier = supplier
        account.server = server
        account.email = email
        account.title = title
        account.work_dir = str(directory) + "/"
        account.ca_bundle = str(Path(ca_bundle).resolve()) if ca_bundle else ""
        if acme_key_type is not None:
            account.acme_key_type = acme_key_type
        db.put_account(account)
        db.save()
    registry.remember(directory)
    return directory


def create_ownca_account(
    directory: Path | None = None,
    *,
    title: str = "Own CA",
    root_name: str = "",
    intermediate_name: str = "",
    key_type: PrivKeyType | None = None,
    validity_days: int = 3650,
    password: str | None = None,
    crl_url: str = "",
) -> Path:
    """An Own CA account with a new root and intermediate CA in it."""
    from .icsdb import AccountDB
    from .suppliers.ownca import create_ca

    directory = new_account(SupplierProto.SuppProtoOwnCA, directory, title=title)
    with AccountDB.open(directory, writable=True) as db:
        account = db.account
        account.crl_url = crl_url
        options = {"key_type": key_type} if key_type is not None else {}
        files = create_ca(
            directory,
            root_name=root_name or f"{title} Root",
            intermediate_name=intermediate_name or f"{title} Intermediate",
            validity_days=validity_days,
            password=password,
            **options,
        )
        # Relative to DirCertWork, so a moved directory still finds its CA.
        account.ca_cert_file = files.cert.name
        account.ca_key_file = files.key.name
        account.ca_key_password = password or ""  # plain text, as ICS stores CAPkeyPw
        db.put_account(account)
        db.save()
    return directory


def load_ownca_account(
    cert_file: str,
    key_file: str | None = None,
    password: str | None = None,
    directory: Path | None = None,
    *,
    title: str = "Own CA",
) -> Path:
    """An Own CA account that signs with an existing CA certificate and key."""
    from .icsdb import AccountDB
    from .suppliers.ownca import load_ca

    directory = new_account(SupplierProto.SuppProtoOwnCA, directory, title=title)
    cert_path = Path(cert_file).expanduser().resolve()
    key_path = Path(key_file).expanduser().resolve() if key_file else None
    try:
        load_ca(directory, cert_path, key_path, password)  # refuses a key that does not match
    except Exception:
        _discard_new_account(directory)
        raise
    with AccountDB.open(directory, writable=True) as db:
        db.account.ca_cert_file = str(cert_path)
        db.account.ca_key_file = str(key_path) if key_path else ""
        db.account.ca_key_password = password or ""
        db.put_account(db.account)
        db.save()
    return directory


def _discard_new_account(directory: Path) -> None:
    """Undo `new_account` when the rest of the set-up failed, so nothing half-made stays."""
    import shutil

    registry.forget(directory)
    if all(p.name in ("ics-control.db", ".certdesk.lock") for p in directory.iterdir()):
        shutil.rmtree(directory, ignore_errors=True)


async def create_acme_account(
    server: str,
    directory: Path | None = None,
    *,
    title: str = "",
    email: str = "",
    ca_bundle: str = "",
    eab_kid: str | None = None,
    eab_hmac: str | None = None,
    acme_key_type: PrivKeyType | None = None,
    register: bool = True,
    bus=None,
) -> Path:
    """An ACME account directory, registered with the CA unless `register` is False."""
    from .session import AccountSession

    directory = new_account(
        SupplierProto.SuppProtoAcmeV2, directory, title=title or "ACME V2", server=server,
        email=email, ca_bundle=ca_bundle, acme_key_type=acme_key_type,
    )  # fmt: skip
    if register:
        options = {"eab_kid": eab_kid, "eab_hmac": eab_hmac}
        async with AccountSession.open(directory, bus=bus, supplier_options=options) as session:
            await session.supplier()
    return directory
