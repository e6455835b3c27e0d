"""Web sign-in without a server: password hashes, signed sessions, the users file, header
mode and its proxy allow-list."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from bots.web.auth import (
    SESSION_COOKIE,
    Authenticator,
    SessionSigner,
    hash_password,
    load_users,
    verify_password,
)
from oncall.core.errors import ConfigError
from oncall.core.settings import WebSettings
from oncall.testing.web_support import ALICE_API_KEY, PASSWORDS, write_users
from tests.conftest import REPO


def test_password_hash_round_trip_and_tampering() -> None:
    encoded = hash_password("s3cret", iterations=1000)
    assert encoded.startswith("pbkdf2_sha256$1000$")
    assert verify_password("s3cret", encoded)
    assert not verify_password("s3cret ", encoded)
    assert hash_password("s3cret", 1000) != encoded, "salted"
    for broken in ("", "md5$1$a$b", encoded.replace("$1000$", "$x$"), encoded[:-4]):
        assert not verify_password("s3cret", broken)


def test_sessions_are_signed_and_expire() -> None:
    signer = SessionSigner(b"k" * 32, ttl_s=60)
    token = signer.sign("alice", now=1000.0)
    assert signer.verify(token, now=1059.0) == "alice"
    assert signer.verify(token, now=1061.0) is None, "expired"
    mac = token.split(".")[1]
    forged = SessionSigner(b"other-key" * 4, ttl_s=60).sign("admin", now=1000.0)
    assert signer.verify(forged, now=1001.0) is None
    assert signer.verify(forged.split(".")[0] + "." + mac, now=1001.0) is None
    assert signer.verify("garbage", now=1001.0) is None


def test_login_mode_resolves_cookie_and_api_key(tmp_path: Path) -> None:
    auth = Authenticator(WebSettings(users_file=write_users(tmp_path / "u.yaml")))
    assert auth.login("alice", "wrong") is None and auth.login("nobody", "x") is None
    user = auth.login("alice", PASSWORDS["alice"])
    assert user is not None
    cookie = {SESSION_COOKIE: auth.issue(user)}
    who = auth.principal({}, cookie, "127.0.0.1")
    assert who is not None and who.user_id == "alice" and who.read_groups == [
        "oncall", "public", "sre"
    ]  # fmt: skip
    by_key = auth.principal({"authorization": f"Bearer {ALICE_API_KEY}"}, {}, None)
    assert by_key is not None and by_key.user_id == "alice"
    assert auth.principal({"authorization": "Bearer nope"}, cookie, None) is None
    bare = {SESSION_COOKIE: auth.signer.sign("alice")}  # signed, but no session id
    assert auth.principal({}, bare, None) is None
    # Identity headers mean nothing in login mode.
    assert auth.principal({"x-forwarded-user": "root"}, {}, "127.0.0.1") is None


def test_header_mode_only_from_trusted_proxies(tmp_path: Path) -> None:
    settings = WebSettings(auth="header", trusted_proxies=["10.1.0.0/16", "127.0.0.1"])
    auth = Authenticator(settings)
    headers = {"x-forwarded-user": "dana", "x-forwarded-groups": "sre, ,payments"}
    who = auth.principal(headers, {}, "10.1.2.3")
    assert who is not None and who.groups == frozenset({"sre", "payments"})
    assert auth.principal(headers, {}, "10.2.0.1") is None
    assert auth.principal(headers, {}, None) is None
    assert auth.principal({"x-forwarded-groups": "sre"}, {}, "127.0.0.1") is None
    with pytest.raises(ConfigError, match=r"web\.trusted_proxies"):
        Authenticator(WebSettings(auth="header", trusted_proxies=["not-an-ip"]))


def test_users_file_mistakes_name_the_file_and_user(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    with pytest.raises(ConfigError, match=r"does not exist.*ONCALL_WEB__AUTH=header"):
        load_users(path)
    cases = {
        "users: [alice]\n": "non-empty `users:` mapping",
        "users:\n  alice:\n    password: hunter2\n": "user 'alice' needs `password: pbkdf2",
        "users:\n  bob:\n    password: pbkdf2_sha256$1$a$b\n    groups: sre\n": "list of names",
        "users: {a: [}\n": "not valid YAML",
    }
    for text, message in cases.items():
        path.write_text(text)
        with pytest.raises(ConfigError, match=r"web\.users_file") as info:
            load_users(path)
        assert message in str(info.value)


def test_example_users_file_loads_and_secret_is_used(tmp_path: Path) -> None:
    users = load_users(REPO / "examples" / "web_users.yaml")
    assert set(users) == {"alice", "bob", "carol"}
    assert users["alice"].groups == frozenset({"oncall", "sre"})
    settings = WebSettings(
        users_file=write_users(tmp_path / "u.yaml"), session_secret=SecretStr("x" * 32)
    )
    a, b = Authenticator(settings), Authenticator(settings)
    assert b.signer.verify(a.signer.sign("bob")) == "bob", "replicas share sessions"


def test_sessions_follow_the_users_file_and_logout(tmp_path: Path) -> None:
    """The users file is re-read when it changes: a removed user, removed groups and a new
    password apply to live cookies and API keys at once; logout revokes on the server, and
    a file that cannot be parsed leaves the last good one in force."""
    path = write_users(tmp_path / "u.yaml")
    auth = Authenticator(WebSettings(users_file=path))
    alice, bob = auth.login("alice", PASSWORDS["alice"]), auth.login("bob", PASSWORDS["bob"])
    assert alice is not None and bob is not None
    cookies = {u.user_id: {SESSION_COOKIE: auth.issue(u)} for u in (alice, bob)}
    key = {"authorization": f"Bearer {ALICE_API_KEY}"}

    text = path.read_text()
    path.write_text(text.replace("groups: [oncall, sre]", "groups: [oncall]"))
    who = auth.principal({}, cookies["alice"], None)
    assert who is not None and who.groups == frozenset({"oncall"})
    by_key = auth.principal(key, {}, None)
    assert by_key is not None and by_key.groups == frozenset({"oncall"})

    path.write_text("users: [broken\n")  # a half-saved edit: the last good file holds
    assert auth.principal({}, cookies["bob"], None) is not None

    path.write_text(text[: text.index("  bob:")])  # bob removed
    assert auth.principal({}, cookies["bob"], None) is None
    assert auth.login("bob", PASSWORDS["bob"]) is None

    auth.logout(cookies["alice"][SESSION_COOKIE])
    assert auth.principal({}, cookies["alice"], None) is None, "revoked on the server"
    assert auth.principal(key, {}, None) is not None, "API keys are not sessions"

    again = auth.login("alice", PASSWORDS["alice"])
    assert again is not None
    fresh = {SESSION_COOKIE: auth.issue(again)}
    assert auth.principal({}, fresh, None) is not None
    new_hash = hash_password("new-password", 1000)
    path.write_text(text.replace(again.password_hash, new_hash))
    assert auth.principal({}, fresh, None) is None, "a new password ends old sessions"
