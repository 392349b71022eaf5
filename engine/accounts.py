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

    undo = _Undo(directory)
    directory = new_account(SupplierProto.SuppProtoOwnCA, directory, title=title)
    try:
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

    except Exception:
        undo(directory)
        raise
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

    undo = _Undo(directory)
    directory = new_account(SupplierProto.SuppProtoOwnCA, directory, title=title)
    cert_path = Path(cert_file).expanduser().resolve()
    key_path = Path(key_file).expanduser().resolve() if key_file else None
    try:
        load_ca(directory, cert_path, key_path, password)  # refuses a key that does not match
    except Exception:
        undo(directory)
        raise
    with AccountDB.open(directory, writable=True) as db:
        db.account.ca_cert_file = str(cert_path)
        db.account.ca_key_file = str(key_path) if key_path else ""
        db.account.ca_key_password = password or ""
        db.put_account(db.account)
        db.save()
    return directory


class _Undo:
    """Remembers what a directory held before an account was set up in it, so a failed
    set-up removes only what it created itself, never a file that was there before."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = Path(directory).expanduser().resolve() if directory else None
        self.before = (
            set(self.directory.iterdir()) if self.directory and self.directory.is_dir() else None
        )

    def __call__(self, directory: Path) -> None:
        import shutil

        registry.forget(directory)
        if self.before is None:  # the directory is ours: all of it goes
            shutil.rmtree(directory, ignore_errors=True)
            return
        for path in set(directory.iterdir()) - self.before:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


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

    undo = _Undo(directory)
    directory = new_account(
        SupplierProto.SuppProtoAcmeV2, directory, title=title or "ACME V2", server=server,
        email=email, ca_bundle=ca_bundle, acme_key_type=acme_key_type,
    )  # fmt: skip
    if register:
        options = {"eab_kid": eab_kid, "eab_hmac": eab_hmac}
        try:
            async with AccountSession.open(directory, bus=bus, supplier_options=options) as session:
                await session.supplier()
        except Exception:
            # Nothing was registered (wrong URL, EAB credentials, TLS trust): leave no
            # half-made account behind, so the same command can simply be run again.
            undo(directory)
            raise
    return directory
