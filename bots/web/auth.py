"""Who is asking, for the web chat: a login against a users file, or an SSO proxy's headers.

Both modes end in the same `Principal` (oncall/core/identity.py), whose groups decide which
documents and tools the agent may use for this person. Nothing here trusts the browser:
session cookies are HMAC-signed and expire, identity headers count only in header mode
and only from the configured proxies.

The users file is the authority on every request: it is re-read when it changes
(oncall/core/watched.py, one `stat` per request), so a removed user, a removed group or a
new password takes effect at once, for session cookies and API keys alike. A cookie
carries a session id that logout revokes on the server (bots/web/sessions.py), and a
fingerprint of the password hash it was issued under, so changing a password ends the
user's other sessions.

Make a password hash for the users file with `python -m bots.web.auth 'the password'`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bots.web.sessions import MemoryRevocations, Revocations
from oncall.core.errors import ConfigError
from oncall.core.identity import Principal
from oncall.core.settings import WebSettings
from oncall.core.watched import WatchedFile

SESSION_COOKIE = "oncall_session"
PBKDF2_ITERATIONS = 600_000  # OWASP 2023 advice for PBKDF2-HMAC-SHA256
_SCHEME = "pbkdf2_sha256"


def hash_password(password: str, iterations: int = PBKDF2_ITERATIONS) -> str:
    """`pbkdf2_sha256$<iterations>$<salt>$<hash>` (salt and hash base64), for users files."""
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"{_SCHEME}${iterations}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """Constant-time check of `password` against a `hash_password` string."""
    try:
        scheme, iterations, salt, expected = encoded.split("$")
        if scheme != _SCHEME:
            return False
        digest = hashlib.pbkdf2_hmac("sha256", password.encode(), _unb64(salt), int(iterations))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, _unb64(expected))


@dataclass(frozen=True)
class WebUser:
    user_id: str
    name: str
    groups: frozenset[str]
    password_hash: str
    api_key_sha256: str | None = None

    def principal(self) -> Principal:
        return Principal(self.user_id, self.groups, self.name or self.user_id)

    @property
    def password_fingerprint(self) -> str:
        """Short, one-way tag of the password hash: a session issued under another
        password no longer matches (the hash itself never goes into a cookie)."""
        return hashlib.sha256(self.password_hash.encode()).hexdigest()[:16]


def load_users(path: Path) -> dict[str, WebUser]:
    """Parse the users file; every mistake is a `ConfigError` naming the file and the user."""
    setting = "web.users_file"
    if not path.is_file():
        raise ConfigError(
            setting,
            f"{path} does not exist. Point ONCALL_WEB__USERS_FILE at a users file (see "
            "examples/web_users.yaml), or use ONCALL_WEB__AUTH=header behind an SSO proxy",
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(setting, f"{path} is not valid YAML: {exc}") from exc
    entries = data.get("users") if isinstance(data, dict) else None
    if not isinstance(entries, dict) or not entries:
        raise ConfigError(setting, f"{path} needs a non-empty `users:` mapping")
    return {str(uid): _parse_user(str(uid), entry, path) for uid, entry in entries.items()}


def _parse_user(user_id: str, entry: Any, path: Path) -> WebUser:
    where = f"{path}: user {user_id!r}"
    if not isinstance(entry, dict) or not str(entry.get("password", "")).startswith(_SCHEME):
        raise ConfigError(
            "web.users_file",
            f"{where} needs `password: {_SCHEME}$...` (make one with "
            "`python -m bots.web.auth 'PASSWORD'`)",
        )
    groups = entry.get("groups", [])
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise ConfigError("web.users_file", f"{where}: `groups` must be a list of names")
    api_key = entry.get("api_key_sha256")
    return WebUser(
        user_id, str(entry.get("name", "")), frozenset(groups), str(entry["password"]),
        str(api_key).lower() if api_key else None,
    )  # fmt: skip


@dataclass(frozen=True)
class UserTable:
    """The users file, parsed: by user id and by API key hash."""

    users: dict[str, WebUser]
    api_keys: dict[str, WebUser]

    @classmethod
    def load(cls, path: Path) -> UserTable:
        users = load_users(path)
        return cls(users, _api_keys(users))


def _api_keys(users: Mapping[str, WebUser]) -> dict[str, WebUser]:
    return {u.api_key_sha256: u for u in users.values() if u.api_key_sha256}


class SessionSigner:
    """Signed, expiring tokens: base64(JSON) + "." + HMAC-SHA256. The payload holds the user
    id, the expiry and the session's claims (id, password fingerprint), never groups:
    those are looked up afresh on every request, so a change to the users file applies to
    live sessions."""

    def __init__(self, secret: bytes, ttl_s: int):
        self._key = secret
        self.ttl_s = ttl_s

    def sign(
        self, user_id: str, now: float | None = None, claims: Mapping[str, str] | None = None
    ) -> str:
        """A token for `user_id`, valid `ttl_s`; `claims` ride along, signed too."""
        expires = int((now or time.time()) + self.ttl_s)
        body = _b64(json.dumps({**(claims or {}), "u": user_id, "exp": expires}).encode())
        return f"{body}.{self._mac(body)}"

    def verify(self, token: str, now: float | None = None) -> str | None:
        """The user id in a valid, unexpired token, else None."""
        claims = self.claims(token, now)
        return claims["u"] if claims else None

    def claims(self, token: str, now: float | None = None) -> dict[str, Any] | None:
        """Everything a valid, unexpired token says (`u`: user id, `exp`), else None."""
        body, _, mac = token.partition(".")
        if not body or not hmac.compare_digest(mac.encode(), self._mac(body).encode()):
            return None
        try:
            payload = json.loads(_unb64(body))
        except ValueError:
            return None
        if not isinstance(payload, dict) or payload.get("exp", 0) < (now or time.time()):
            return None
        return payload if isinstance(payload.get("u"), str) else None

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())


class Authenticator:
    """Resolves a request's `Principal` in the configured mode (None: not signed in)."""

    def __init__(self, settings: WebSettings, revocations: Revocations | None = None):
        """`revocations`: where logout records revoked sessions (default: this process
        only; the app passes a store shared by its workers)."""
        self.settings = settings
        self.mode = settings.auth
        secret = settings.session_secret
        key = secret.get_secret_value().encode() if secret else secrets.token_bytes(32)
        self.signer = SessionSigner(key, settings.session_ttl_s)
        self.revocations = revocations or MemoryRevocations()
        # Re-read on change (oncall/core/watched.py): the file is the authority per request.
        self.users_file = (
            WatchedFile(settings.users_file, UserTable.load) if self.mode == "login" else None
        )
        self._proxies = [_network(p) for p in settings.trusted_proxies]
        # Checked when the user does not exist, with the users' own cost, so that a login
        # for an unknown name takes as long as a wrong password (no enumeration by timing).
        rounds = max((_iterations(u.password_hash) for u in self.users.values()), default=1)
        self._dummy_hash = hash_password(secrets.token_hex(8), rounds)

    @property
    def users(self) -> dict[str, WebUser]:
        """The users file as it is now (empty in header mode)."""
        return self.users_file.current().users if self.users_file else {}

    def login(self, user_id: str, password: str) -> WebUser | None:
        user = self.users.get(user_id)
        ok = verify_password(password, user.password_hash if user else self._dummy_hash)
        return user if ok and user else None

    def issue(self, user: WebUser) -> str:
        """A session cookie value for `user`, with a new session id."""
        claims = {"sid": secrets.token_urlsafe(16), "pw": user.password_fingerprint}
        return self.signer.sign(user.user_id, claims=claims)

    def logout(self, token: str) -> None:
        """Revoke the session in `token` server-side (a copy of the cookie stops working)."""
        claims = self.signer.claims(token)
        if claims and isinstance(claims.get("sid"), str):
            self.revocations.revoke(claims["sid"], float(claims["exp"]))

    def principal(
        self, headers: Mapping[str, str], cookies: Mapping[str, str], client: str | None
    ) -> Principal | None:
        """`headers` with lower-case names (Starlette's `request.headers` works)."""
        if self.mode == "header":
            return self._from_headers(headers, client)
        assert self.users_file is not None
        table = self.users_file.current()
        bearer = headers.get("authorization", "")
        if bearer.lower().startswith("bearer "):
            digest = hashlib.sha256(bearer[7:].strip().encode()).hexdigest()
            user = table.api_keys.get(digest)
            return user.principal() if user else None
        user = self._session_user(cookies.get(SESSION_COOKIE, ""), table.users)
        return user.principal() if user else None

    def _session_user(self, token: str, users: Mapping[str, WebUser]) -> WebUser | None:
        """The user a session cookie is for, if the session is still good: signed and
        unexpired, not revoked, the user still in the file, the password unchanged."""
        claims = self.signer.claims(token)
        if claims is None or not isinstance(claims.get("sid"), str):
            return None
        user = users.get(claims["u"])
        if user is None or claims.get("pw") != user.password_fingerprint:
            return None
        return None if self.revocations.is_revoked(claims["sid"]) else user

    def _from_headers(self, headers: Mapping[str, str], client: str | None) -> Principal | None:
        if self._proxies and not _address_in(client, self._proxies):
            return None
        user_id = headers.get(self.settings.user_header.lower(), "").strip()
        if not user_id:
            return None
        raw = headers.get(self.settings.groups_header.lower(), "")
        groups = frozenset(g.strip() for g in raw.split(",") if g.strip())
        return Principal(user_id, groups, user_id)


def _iterations(encoded: str) -> int:
    try:
        return int(encoded.split("$")[1])
    except (IndexError, ValueError):
        return PBKDF2_ITERATIONS


def _network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError as exc:
        raise ConfigError("web.trusted_proxies", f"{value!r} is not an IP address or CIDR") from exc


def _address_in(client: str | None, networks: list[Any]) -> bool:
    try:
        address = ipaddress.ip_address(client or "")
    except ValueError:
        return False
    return any(address in n for n in networks)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


if __name__ == "__main__":  # python -m bots.web.auth PASSWORD
    if len(sys.argv) != 2:
        sys.exit("usage: python -m bots.web.auth 'PASSWORD'  (prints a users-file hash)")
    print(hash_password(sys.argv[1]))
