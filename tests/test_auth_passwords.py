"""Passwords, lockout, access and refresh tokens, TOTP and API keys, below HTTP, on SQLite and
PostgreSQL. Time is passed in (``now``), never slept; stored values are read back with plain
SQL, not through the code under test."""

from __future__ import annotations

import base64
import datetime as dt
import json

import jwt
import pyotp
import pytest
from import_support import Ledger
from sqlalchemy import text

from ledger.auth import (
    AuthenticatedUser,
    issue_api_key,
    list_api_keys,
    resolve_token,
    revoke_api_key,
)
from ledger.auth_settings import AuthSettings
from ledger.credentials import (
    LoginRefused,
    PasswordPolicyError,
    change_password,
    disable_totp,
    enrol_totp,
    lock_seconds,
    login,
    set_password,
)
from ledger.crypto import KeyRing, generate_key, use_keyring
from ledger.login_tokens import (
    TokenRefused,
    refresh,
    revoke_by_refresh_token,
    signing_key,
    verify_access_token,
)
from ledger.totp import TotpStateError, confirm
from ledger.users import create_user

T0 = dt.datetime(2026, 3, 2, 9, 0, 0)
PASSWORD = "correct horse battery staple"
SETTINGS = AuthSettings(token_secret=None, access_token_minutes=15, refresh_token_days=30,
                        lockout_threshold=3, lockout_base_seconds=30, lockout_max_seconds=100,
                        min_password_length=12)


@pytest.fixture
def ledger(any_ledger: Ledger) -> Ledger:
    """alice has a password; bob has none (API keys only)."""
    set_password(any_ledger.sessions, any_ledger.alice, PASSWORD, settings=SETTINGS, now=T0)
    return any_ledger


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def sign_in(ledger: Ledger, password: str = PASSWORD, *, seconds: float = 0,
            otp: str | None = None):
    return login(ledger.sessions, "alice", password, otp=otp, settings=SETTINGS,
                 now=at(seconds))


def credential_row(ledger: Ledger) -> dict[str, object]:
    with ledger.engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM user_credentials WHERE user_id = :id"),
                           {"id": ledger.alice}).mappings().one()
    return dict(row)


def code_at(secret: str, seconds: float) -> str:
    return pyotp.TOTP(secret).at(int(at(seconds).replace(tzinfo=dt.UTC).timestamp()))


# ---------------------------------------------------------------- passwords
def test_a_password_is_stored_as_an_argon2id_hash_only(ledger: Ledger) -> None:
    stored = credential_row(ledger)["password_hash"]
    assert isinstance(stored, str) and stored.startswith("$argon2id$v=19$")
    with ledger.engine.connect() as conn:
        everything = json.dumps([list(map(str, row)) for row in conn.execute(
            text("SELECT * FROM user_credentials"))])
    assert PASSWORD not in everything
    assert sign_in(ledger).user_id == ledger.alice


@pytest.mark.parametrize(("password", "reason"), [
    ("short pass", "at least 12 characters"),
    ("x" * 257, "at most 256"),
])
def test_weak_passwords_are_refused_and_nothing_changes(ledger: Ledger, password: str,
                                                        reason: str) -> None:
    before = credential_row(ledger)["password_hash"]
    with pytest.raises(PasswordPolicyError, match=reason):
        set_password(ledger.sessions, ledger.alice, password, settings=SETTINGS)
    assert credential_row(ledger)["password_hash"] == before


def test_the_user_name_is_refused_as_a_password(ledger: Ledger) -> None:
    with ledger.sessions.begin() as session:
        user_id = create_user(session, "alexandrina.bell").id
    with pytest.raises(PasswordPolicyError, match="user name"):
        set_password(ledger.sessions, user_id, " Alexandrina.Bell ", settings=SETTINGS)
    assert ledger.count("user_credentials") == 1  # alice's only


@pytest.mark.parametrize(("name", "password"), [
    ("alice", "wrong password, long enough"),
    ("nobody", PASSWORD),
    ("bob", PASSWORD),  # bob exists but has no password
    ("", PASSWORD),
    ("ali\x00ce", PASSWORD),  # PostgreSQL refuses NUL in a query: must not be an error
])
def test_every_failed_login_fails_the_same_way(ledger: Ledger, name: str, password: str
                                               ) -> None:
    with pytest.raises(LoginRefused) as refused:
        login(ledger.sessions, name, password, settings=SETTINGS, now=T0)
    assert refused.value.code == "invalid_grant"
    assert str(refused.value) == "invalid user name or password"


# ---------------------------------------------------------------- lockout
def test_lock_lengths_double_from_the_threshold_up_to_the_cap() -> None:
    assert [lock_seconds(n, SETTINGS) for n in range(1, 8)] == [0, 0, 30, 60, 100, 100, 100]


def test_the_account_locks_after_repeated_failures_and_the_lock_grows(ledger: Ledger) -> None:
    for second in (0, 1, 2):
        with pytest.raises(LoginRefused):
            sign_in(ledger, "not the password!", seconds=second)
    assert credential_row(ledger)["failed_logins"] == 3

    # Locked for 30 s from the third failure: the right password fails exactly like a wrong
    # one, and attempts while locked are not counted.
    with pytest.raises(LoginRefused) as locked:
        sign_in(ledger, seconds=31)
    assert (locked.value.code, str(locked.value)) == ("invalid_grant",
                                                      "invalid user name or password")
    assert credential_row(ledger)["failed_logins"] == 3

    with pytest.raises(LoginRefused):  # the lock is over: a 4th failure locks for 60 s
        sign_in(ledger, "not the password!", seconds=32)
    with pytest.raises(LoginRefused):
        sign_in(ledger, seconds=32 + 59)
    with pytest.raises(LoginRefused):  # a 5th: 120 s, capped at 100
        sign_in(ledger, "not the password!", seconds=32 + 60)
    with pytest.raises(LoginRefused):
        sign_in(ledger, seconds=92 + 99)

    assert sign_in(ledger, seconds=92 + 100).user_id == ledger.alice
    row = credential_row(ledger)
    assert row["failed_logins"] == 0 and row["locked_until"] is None


def test_setting_a_password_clears_a_lock(ledger: Ledger) -> None:
    for _ in range(3):
        with pytest.raises(LoginRefused):
            sign_in(ledger, "not the password!")
    set_password(ledger.sessions, ledger.alice, "a brand new passphrase", settings=SETTINGS)
    assert sign_in(ledger, "a brand new passphrase", seconds=1).user_id == ledger.alice


# ---------------------------------------------------------------- access tokens
def test_an_access_token_names_its_user_until_it_expires(ledger: Ledger) -> None:
    pair = sign_in(ledger)
    user = verify_access_token(ledger.sessions, pair.access_token, settings=SETTINGS,
                               now=at(15 * 60 - 1))
    assert user == AuthenticatedUser(id=ledger.alice, name="alice", credential="access_token",
                                     session_id=pair.session_id)
    assert pair.expires_in == 900
    claims = jwt.decode(pair.access_token, options={"verify_signature": False})
    assert claims["type"] == "access" and claims["sub"] == str(ledger.alice)
    assert claims["exp"] - claims["iat"] == 900 and claims["jti"]

    with pytest.raises(TokenRefused) as expired:
        verify_access_token(ledger.sessions, pair.access_token, settings=SETTINGS,
                            now=at(15 * 60))
    assert expired.value.code == "token_expired"


def _forged(ledger: Ledger, claims: dict[str, object], key: bytes | None = None) -> str:
    return jwt.encode(claims, key or signing_key(ledger.sessions, SETTINGS), algorithm="HS256")


def test_tampered_foreign_and_non_access_tokens_are_refused(ledger: Ledger) -> None:
    pair = sign_in(ledger)
    header, payload, signature = pair.access_token.split(".")
    claims = jwt.decode(pair.access_token, options={"verify_signature": False})
    as_bob = base64.urlsafe_b64encode(json.dumps({**claims, "sub": str(ledger.bob)}).encode())
    unsigned = jwt.encode(claims, key=None, algorithm="none")
    candidates = {
        "payload edited": f"{header}.{as_bob.decode().rstrip('=')}.{signature}",
        "signature edited": f"{header}.{payload}.{'BA'[signature[0] == 'B']}{signature[1:]}",
        "alg none": unsigned,
        "other key": _forged(ledger, claims, key=b"k" * 32),
        "refresh type": _forged(ledger, {**claims, "type": "refresh"}),
        "no session": _forged(ledger, {k: v for k, v in claims.items() if k != "sid"}),
        "unknown session": _forged(ledger, {**claims, "sid": "0" * 32}),
        "other user, same session": _forged(ledger, {**claims, "sub": str(ledger.bob)}),
        "refresh token": pair.refresh_token,
    }
    for name, token in candidates.items():
        with pytest.raises(TokenRefused):
            verify_access_token(ledger.sessions, token, settings=SETTINGS, now=T0)
            pytest.fail(f"accepted: {name}")


def test_a_token_secret_signs_instead_of_the_data_key(ledger: Ledger) -> None:
    secret = AuthSettings(token_secret="s" * 40)
    pair = login(ledger.sessions, "alice", PASSWORD, settings=secret, now=T0)
    assert verify_access_token(ledger.sessions, pair.access_token, settings=secret, now=T0)
    with pytest.raises(TokenRefused):
        verify_access_token(ledger.sessions, pair.access_token, settings=SETTINGS, now=T0)
    with pytest.raises(ValueError, match="at least 32"):
        AuthSettings(token_secret="too short")


def test_rotating_the_data_key_ends_access_tokens_but_not_refresh_tokens(ledger: Ledger
                                                                         ) -> None:
    old = KeyRing.from_base64(generate_key())
    with use_keyring(old):
        pair = sign_in(ledger)
    with use_keyring(old.with_primary(base64.b64decode(generate_key()))):
        with pytest.raises(TokenRefused):
            verify_access_token(ledger.sessions, pair.access_token, settings=SETTINGS, now=T0)
        renewed = refresh(ledger.sessions, pair.refresh_token, settings=SETTINGS, now=at(1))
        assert verify_access_token(ledger.sessions, renewed.access_token, settings=SETTINGS,
                                   now=at(1)).id == ledger.alice


# ---------------------------------------------------------------- refresh tokens
def test_refresh_rotates_and_a_reused_refresh_token_revokes_its_session(ledger: Ledger
                                                                        ) -> None:
    first = sign_in(ledger)
    other_device = sign_in(ledger, seconds=1)
    second = refresh(ledger.sessions, first.refresh_token, settings=SETTINGS, now=at(600))
    assert second.refresh_token.startswith("fcr_") and second.refresh_token != first.refresh_token
    assert second.session_id == first.session_id
    assert verify_access_token(ledger.sessions, second.access_token, settings=SETTINGS,
                               now=at(601)).id == ledger.alice

    with pytest.raises(TokenRefused):  # the first token again: someone else has a copy
        refresh(ledger.sessions, first.refresh_token, settings=SETTINGS, now=at(700))
    with pytest.raises(TokenRefused):  # ... so the session is over for everyone
        refresh(ledger.sessions, second.refresh_token, settings=SETTINGS, now=at(701))
    with pytest.raises(TokenRefused):
        verify_access_token(ledger.sessions, second.access_token, settings=SETTINGS,
                            now=at(702))
    # Only that session: the other device is still signed in.
    assert refresh(ledger.sessions, other_device.refresh_token, settings=SETTINGS,
                   now=at(703)).user_id == ledger.alice
    with ledger.engine.connect() as conn:
        stored = [row[0] for row in conn.execute(text("SELECT token_sha256 FROM refresh_tokens"))]
    assert first.refresh_token not in stored and len(stored[0]) == 64


def test_a_refresh_token_expires(ledger: Ledger) -> None:
    pair = sign_in(ledger)
    with pytest.raises(TokenRefused):
        refresh(ledger.sessions, pair.refresh_token, settings=SETTINGS,
                now=T0 + dt.timedelta(days=30))
    for bogus in ("", "fc_an-api-key", "fcr_unknown", "fcr_" + "x" * 5000):
        with pytest.raises(TokenRefused):
            refresh(ledger.sessions, bogus, settings=SETTINGS, now=T0)


def test_logout_ends_the_session_and_its_access_tokens(ledger: Ledger) -> None:
    pair = sign_in(ledger)
    assert revoke_by_refresh_token(ledger.sessions, pair.refresh_token, now=at(5)) is True
    assert revoke_by_refresh_token(ledger.sessions, pair.refresh_token, now=at(6)) is False
    with pytest.raises(TokenRefused):
        verify_access_token(ledger.sessions, pair.access_token, settings=SETTINGS, now=at(7))
    with pytest.raises(TokenRefused):
        refresh(ledger.sessions, pair.refresh_token, settings=SETTINGS, now=at(7))


def test_changing_the_password_signs_out_the_other_sessions(ledger: Ledger) -> None:
    here, there = sign_in(ledger), sign_in(ledger, seconds=1)
    with pytest.raises(LoginRefused):
        change_password(ledger.sessions, ledger.alice, "not the password!", "whatever else 123",
                        settings=SETTINGS, keep_session=here.session_id, now=at(2))
    assert credential_row(ledger)["failed_logins"] == 1  # counted like a login
    with pytest.raises(PasswordPolicyError):
        change_password(ledger.sessions, ledger.alice, PASSWORD, "short",
                        settings=SETTINGS, keep_session=here.session_id, now=at(3))
    change_password(ledger.sessions, ledger.alice, PASSWORD, "a new long passphrase",
                    settings=SETTINGS, keep_session=here.session_id, now=at(4))

    assert verify_access_token(ledger.sessions, here.access_token, settings=SETTINGS,
                               now=at(5)).id == ledger.alice
    with pytest.raises(TokenRefused):
        verify_access_token(ledger.sessions, there.access_token, settings=SETTINGS, now=at(5))
    with pytest.raises(LoginRefused):
        sign_in(ledger, seconds=6)
    assert sign_in(ledger, "a new long passphrase", seconds=7).user_id == ledger.alice


# ---------------------------------------------------------------- TOTP
def test_totp_enrol_confirm_login_replay_and_recovery_codes(ledger: Ledger) -> None:
    with pytest.raises(LoginRefused):
        enrol_totp(ledger.sessions, ledger.alice, "not the password!", settings=SETTINGS, now=T0)
    enrolment = enrol_totp(ledger.sessions, ledger.alice, PASSWORD, settings=SETTINGS, now=T0)
    secret = enrolment.secret
    assert enrolment.uri.startswith("otpauth://totp/finchat:alice?") and secret in enrolment.uri
    stored = credential_row(ledger)["totp_secret"]
    assert isinstance(stored, str) and stored.startswith("fc1:") and secret not in stored
    assert sign_in(ledger).user_id == ledger.alice  # not active until confirmed

    with pytest.raises(TotpStateError) as wrong:
        confirm(ledger.sessions, ledger.alice, "000000" if code_at(secret, 0) != "000000"
                else "111111", now=T0)
    assert wrong.value.code == "invalid_otp"
    codes = confirm(ledger.sessions, ledger.alice, code_at(secret, 0), now=T0)
    assert len(codes) == len(set(codes)) == 10

    with pytest.raises(LoginRefused) as missing:
        sign_in(ledger, seconds=31)
    assert missing.value.code == "otp_required"
    next_code = code_at(secret, 30)
    assert sign_in(ledger, seconds=31, otp=next_code).user_id == ledger.alice
    for seconds, code in ((32, next_code), (33, code_at(secret, 0))):  # replay, older step
        with pytest.raises(LoginRefused) as replay:
            sign_in(ledger, seconds=seconds, otp=code)
        assert replay.value.code == "invalid_otp"
    with pytest.raises(LoginRefused):  # a code two steps away is out of the window
        sign_in(ledger, seconds=34, otp=code_at(secret, 120))
    assert credential_row(ledger)["failed_logins"] == 3  # wrong codes count as failures

    set_password(ledger.sessions, ledger.alice, PASSWORD, settings=SETTINGS)  # clears the lock
    arabic_digits = code_at(secret, 35).translate(str.maketrans("0123456789",
                                                                 "٠١٢٣٤٥٦٧٨٩"))
    with pytest.raises(LoginRefused) as foreign:
        sign_in(ledger, seconds=35, otp=arabic_digits)
    assert foreign.value.code == "invalid_otp"

    set_password(ledger.sessions, ledger.alice, PASSWORD, settings=SETTINGS)  # clears the lock
    typed = codes[0].upper().replace("-", " ")
    assert sign_in(ledger, seconds=40, otp=typed).user_id == ledger.alice
    with pytest.raises(LoginRefused):
        sign_in(ledger, seconds=41, otp=codes[0])
    assert sign_in(ledger, seconds=42, otp=codes[1]).user_id == ledger.alice
    with ledger.engine.connect() as conn:
        hashes = [row[0] for row in conn.execute(text("SELECT code_sha256 FROM recovery_codes"))]
    assert len(hashes) == 10 and not set(codes) & set(hashes)

    with pytest.raises(TotpStateError):
        enrol_totp(ledger.sessions, ledger.alice, PASSWORD, settings=SETTINGS, now=at(43))
    with pytest.raises(LoginRefused):
        disable_totp(ledger.sessions, ledger.alice, PASSWORD, codes[0], settings=SETTINGS,
                     now=at(44))
    disable_totp(ledger.sessions, ledger.alice, PASSWORD, code_at(secret, 90),
                 settings=SETTINGS, now=at(90))
    assert sign_in(ledger, seconds=91).user_id == ledger.alice
    row = credential_row(ledger)
    assert row["totp_secret"] is None and not row["totp_enabled"]
    with pytest.raises(TotpStateError):
        disable_totp(ledger.sessions, ledger.alice, PASSWORD, "123456", settings=SETTINGS)


# ---------------------------------------------------------------- API keys
def test_api_keys_are_listed_by_their_last_four_and_revoked_by_their_owner(ledger: Ledger
                                                                           ) -> None:
    issued = issue_api_key(ledger.sessions, ledger.alice, label="backup script")
    other = issue_api_key(ledger.sessions, ledger.bob)
    listed = list_api_keys(ledger.sessions, ledger.alice)
    assert [(k.id, k.label, k.last4) for k in listed] == [
        (issued.info.id, "backup script", issued.token[-4:])]
    assert resolve_token(ledger.sessions, issued.token) == AuthenticatedUser(
        id=ledger.alice, name="alice")

    assert revoke_api_key(ledger.sessions, ledger.alice, other.info.id) is False
    assert resolve_token(ledger.sessions, other.token) is not None
    assert revoke_api_key(ledger.sessions, ledger.alice, issued.info.id) is True
    assert revoke_api_key(ledger.sessions, ledger.alice, issued.info.id) is False
    assert resolve_token(ledger.sessions, issued.token) is None
    assert list_api_keys(ledger.sessions, ledger.alice) == []


def test_erasing_a_user_removes_their_credentials(ledger: Ledger) -> None:
    pair = sign_in(ledger)
    enrol_totp(ledger.sessions, ledger.alice, PASSWORD, settings=SETTINGS, now=at(1))
    issue_api_key(ledger.sessions, ledger.alice)
    with ledger.engine.begin() as conn:
        conn.execute(text("DELETE FROM users WHERE id = :id"), {"id": ledger.alice})
    for table in ("user_credentials", "login_sessions", "refresh_tokens", "recovery_codes",
                  "api_key_hints"):
        assert ledger.count(table) == 0, table
    with pytest.raises(TokenRefused):
        verify_access_token(ledger.sessions, pair.access_token, settings=SETTINGS, now=at(2))
