"""Accounts, sessions, API tokens and the login limiter (camera/web/accounts.py), on a real accounts file."""

from __future__ import annotations

import os
import sqlite3
import stat
import time

import pytest

from camera.web.accounts import ACCOUNTS_DB, AccountError, Accounts, LoginLimiter, check_user_name
from tests.conftest import facecam


def test_passwords_are_argon2_hashes_and_the_file_is_private(tmp_path) -> None:
    with Accounts(tmp_path) as a:
        a.add_user("alice", "correct horse")
        assert a.verify("alice", "correct horse") and not a.verify("alice", "wrong horse!")
        assert not a.verify("nobody", "correct horse")
    assert stat.S_IMODE(os.stat(tmp_path / ACCOUNTS_DB).st_mode) == 0o600
    with sqlite3.connect(tmp_path / ACCOUNTS_DB) as db:
        (digest,) = db.execute("SELECT hash FROM users").fetchone()
    assert digest.startswith("$argon2id$") and "correct horse" not in digest


@pytest.mark.parametrize(("name", "password", "error"), [
    ("bob", "short", "8 to 1024"),
    ("../etc", "long enough", "account name"),
    ("", "long enough", "account name"),
    ("bob\n", "long enough", "account name"),
])
def test_bad_names_and_weak_passwords_are_refused(tmp_path, name: str, password: str, error: str) -> None:
    with Accounts(tmp_path) as a, pytest.raises(AccountError, match=error):
        a.add_user(name, password)


def test_sessions_expire_end_and_end_on_a_new_password(tmp_path) -> None:
    with Accounts(tmp_path) as a:
        a.add_user("alice", "correct horse")
        sid, s = a.create_session("alice")
        assert a.session(sid) == s and len(s.csrf) >= 32
        assert a.session(sid + "x") is None and a.session("") is None
        a.end_session(sid)
        assert a.session(sid) is None
        sid, _ = a.create_session("alice")
        a.set_password("alice", "new horse battery")
        assert a.session(sid) is None  # a new password logs out everywhere
        sid, _ = a.create_session("alice")
        a._db.execute("UPDATE sessions SET expires = ?", (time.time() - 1,))
        assert a.session(sid) is None


def test_tokens_are_shown_once_stored_hashed_and_revocable(tmp_path) -> None:
    with Accounts(tmp_path) as a:
        a.add_user("alice", "correct horse")
        token, secret = a.create_token("alice", "home-assistant")
        assert a.token_user(secret) == "alice" and a.token_user(secret[:-1]) is None
        assert [t.id for t in a.tokens()] == [token.id] and a.tokens()[0].last_used is not None
        with sqlite3.connect(tmp_path / ACCOUNTS_DB) as db:
            assert secret not in str(db.execute("SELECT * FROM tokens").fetchall())
        a.revoke_token(token.id)
        assert a.token_user(secret) is None
        with pytest.raises(AccountError, match="no account"):
            a.create_token("bob")
        a.remove_user("alice")
        assert a.users() == []


def test_the_limiter_refuses_after_five_failures_per_key_until_the_window_passes() -> None:
    lim = LoginLimiter(max_failures=5, window_s=0.5)
    for _ in range(5):
        assert lim.wait_s("ip:a", "user:x") == 0
        lim.failed("ip:a", "user:x")
    assert 0 < lim.wait_s("ip:b", "user:x") <= 0.5  # the account is protected from any address
    assert lim.wait_s("ip:b", "user:y") == 0
    time.sleep(0.55)
    assert lim.wait_s("ip:a", "user:x") == 0


def test_user_and_token_commands(tmp_path) -> None:
    r = facecam("user", "add", "carol", "--data-dir", str(tmp_path), "--password-stdin", input="long enough pw\n")
    assert r.returncode == 0, r.stderr
    r = facecam("user", "add", "carol", "--data-dir", str(tmp_path), "--password-stdin", input="long enough pw\n")
    assert r.returncode == 2 and r.stderr.startswith("facecam: error: account 'carol' exists")
    r = facecam("user", "add", "dave", "--data-dir", str(tmp_path))  # no terminal: no silent empty password
    assert r.returncode == 2 and "--password-stdin" in r.stderr
    r = facecam("token", "create", "--user", "carol", "--data-dir", str(tmp_path))
    assert r.returncode == 0 and r.stdout.startswith("fct_") and "not shown again" in r.stderr
    r = facecam("token", "list", "--data-dir", str(tmp_path))
    assert r.returncode == 0 and "carol" in r.stdout and "fct_" not in r.stdout
    assert facecam("user", "list", "--data-dir", str(tmp_path)).stdout.split() == ["carol"]
    assert check_user_name("carol") == "carol"
