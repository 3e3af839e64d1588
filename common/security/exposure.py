"""Start-up checks of how the API is exposed: security off beyond loopback, TLS half-configured.

Run by `modelgate api` and `modelgate up` before anything starts; each problem is one line
(a SettingsError, which the command prints and exits 2 on).
"""

from __future__ import annotations

from pathlib import Path

from common.security.users_file import UsersFileError, read_users
from common.settings import PREFIX, Settings, SettingsError, is_loopback

OVERRIDE = PREFIX + "SECURITY_DISABLED_ON_PUBLIC_ADDRESS_I_UNDERSTAND"


def check_exposure(settings: Settings) -> None:
    """Refuse security off on a non-loopback address (unless overridden) and half a TLS pair."""
    if not settings.security_enabled and not is_loopback(settings.host):
        if not settings.insecure_public_ok:
            raise SettingsError(
                f"refusing to serve the API on {settings.host} with {PREFIX}SECURITY=off: "
                "anyone who reaches it could do anything; turn security on (add users with "
                f"`modelgate user add`), listen on 127.0.0.1, or set {OVERRIDE}=1"
            )
    cert, key = settings.tls_cert_file, settings.tls_key_file
    if (cert is None) != (key is None):
        missing = "TLS_KEY_FILE" if key is None else "TLS_CERT_FILE"
        raise SettingsError(f"{PREFIX}{missing} is not set: HTTPS needs a certificate and its key")
    for path, name in ((cert, "TLS_CERT_FILE"), (key, "TLS_KEY_FILE")):
        if path is not None and not _readable(path):
            raise SettingsError(f"{PREFIX}{name} names {path}, which cannot be read")


def users_warning(settings: Settings) -> str | None:
    """A line to print when security is on and nobody could log in (the API starts anyway:
    users added later are picked up without a restart)."""
    if not settings.security_enabled:
        return None
    path = settings.users_path
    try:
        if read_users(path):
            return None
    except UsersFileError as error:
        return f"security is on, but {error}"
    return (
        f"security is on and {path} holds no users: every request is refused until one is "
        "added with `modelgate user add NAME --role all_access`"
    )


def _readable(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError:
        return False
    return True
