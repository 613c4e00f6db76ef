"""Passwords: argon2id hashes, a login lockout with back-off, and sign-in with a second factor.

- Hashes are argon2id (``pwdlib``'s recommended parameters, kept in each hash, so a hash made
  with weaker ones is upgraded at the next successful login).
- An unknown user name, a user without a password, a wrong password and a locked account all
  take the same time (a password is always verified, against a dummy hash if need be) and
  fail with the same ``LoginRefused``: the answer never tells which it was.
- After ``lockout_threshold`` consecutive failures the account locks for
  ``lockout_base_seconds``; every further failure doubles the lock, up to
  ``lockout_max_seconds``. While locked no password is accepted, the right one included, and
  attempts are not counted; a successful login resets the count.
- With TOTP on (``ledger.totp``), a right password without a code fails with ``otp_required``
  and a wrong code with ``invalid_otp`` (counted as a failure).

Every function takes ``now`` (naive UTC) so tests need no sleeping.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from pwdlib import PasswordHash
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from ledger import login_tokens, totp
from ledger.audit import utcnow
from ledger.auth_settings import AuthSettings
from ledger.credential_models import UserCredential
from ledger.login_tokens import TokenPair
from ledger.models import User
from ledger.users import get_user_by_name

MAX_PASSWORD_LENGTH = 256
_hasher = PasswordHash.recommended()


class LoginRefused(Exception):
    """Not signed in; ``code`` is ``invalid_grant`` (user, password or lock: never said which),
    ``otp_required`` or ``invalid_otp``."""

    def __init__(self, message: str = "invalid user name or password", *,
                 code: str = "invalid_grant"):
        super().__init__(message)
        self.code = code


class PasswordPolicyError(ValueError):
    """A new password that is too short, too long, or the user's own name."""


@dataclass(frozen=True)
class _Attempt:
    """What a password check found, before anything is written."""

    user_id: int | None
    password_ok: bool
    locked: bool
    totp_on: bool
    new_hash: str | None
    """A stronger hash of the same password, to store on success."""


def hash_password(password: str) -> str:
    """The argon2id hash (PHC string) of ``password``."""
    return _hasher.hash(password)


def check_password_policy(password: str, user_name: str, *, settings: AuthSettings) -> None:
    """Raises ``PasswordPolicyError`` saying what is wrong with ``password``.

    Length is what matters most (NIST SP 800-63B); composition rules are not imposed.
    """
    if len(password) < settings.min_password_length:
        raise PasswordPolicyError(
            f"a password needs at least {settings.min_password_length} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordPolicyError(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
    if password.strip().casefold() == user_name.strip().casefold():
        raise PasswordPolicyError("a password must not be the user name")


def set_password(
    sessions: sessionmaker[Session], user_id: int, password: str, *, settings: AuthSettings,
    keep_session: str | None = None, now: dt.datetime | None = None,
) -> None:
    """Give ``user_id`` a new password: the lockout is cleared and every login session but
    ``keep_session`` is revoked (a reset must lock out whoever knew the old one).

    Raises:
        LookupError: no such user.
        PasswordPolicyError: see ``check_password_policy``.
    """
    now = now or utcnow()
    with sessions() as session:
        user = session.get(User, user_id)
        if user is None:
            raise LookupError(f"no user with id {user_id}")
        check_password_policy(password, user.name, settings=settings)
    digest = hash_password(password)
    with sessions.begin() as session:
        credential = session.get(UserCredential, user_id)
        if credential is None:
            credential = UserCredential(user_id=user_id)
            session.add(credential)
        credential.password_hash = digest
        credential.password_changed_at = now
        credential.failed_logins = 0
        credential.locked_until = None
    login_tokens.revoke_sessions(sessions, user_id, keep=keep_session, now=now)


def login(
    sessions: sessionmaker[Session], name: str, password: str, *, otp: str | None = None,
    settings: AuthSettings, now: dt.datetime | None = None,
) -> TokenPair:
    """Sign ``name`` in: a new login session with its access and refresh tokens.

    Raises:
        LoginRefused: see the module docstring.
        login_tokens.SigningKeyMissing: access tokens cannot be signed.
    """
    now = now or utcnow()
    with sessions() as session:
        # A NUL cannot be in a name, and PostgreSQL refuses it in a query: no such user.
        user = get_user_by_name(session, name) if name.strip() and "\0" not in name else None
        user_id = None if user is None else user.id
    user_id = verify(sessions, user_id, password, otp=otp, settings=settings, now=now)
    return login_tokens.start_session(sessions, user_id, settings=settings, now=now)


def verify(
    sessions: sessionmaker[Session], user_id: int | None, password: str, *,
    otp: str | None = None, check_otp: bool = True, settings: AuthSettings,
    now: dt.datetime | None = None,
) -> int:
    """Check ``password`` (and, when TOTP is on and ``check_otp``, ``otp``) for ``user_id``
    (``None``: a name that matched nobody), counting failures. Also for re-confirming who is
    there before a sensitive change. Returns ``user_id``.

    Raises:
        LoginRefused: see the module docstring.
    """
    now = now or utcnow()
    attempt = _check(sessions, user_id, password, now)
    if attempt.user_id is None or attempt.locked:
        raise LoginRefused()
    if not attempt.password_ok:
        _record_failure(sessions, attempt.user_id, settings, now)
        raise LoginRefused()
    if attempt.totp_on and check_otp:
        if not otp:
            raise LoginRefused("a one-time code is required: send it as 'otp'",
                               code="otp_required")
        with sessions.begin() as session:
            accepted = totp.verify(session, attempt.user_id, otp, now=now)
        if not accepted:
            _record_failure(sessions, attempt.user_id, settings, now)
            raise LoginRefused("invalid or already used one-time code", code="invalid_otp")
    _record_success(sessions, attempt.user_id, attempt.new_hash)
    return attempt.user_id


def change_password(
    sessions: sessionmaker[Session], user_id: int, current: str, new: str, *,
    settings: AuthSettings, keep_session: str | None = None, now: dt.datetime | None = None,
) -> None:
    """Replace the password after checking the current one (counted like a login); other
    login sessions are revoked.

    Raises:
        LoginRefused: the current password is wrong, or the account is locked.
        PasswordPolicyError: see ``check_password_policy``.
    """
    now = now or utcnow()
    with sessions() as session:
        user = session.get(User, user_id)
        name = "" if user is None else user.name
    check_password_policy(new, name, settings=settings)
    verify(sessions, user_id, current, check_otp=False, settings=settings, now=now)
    set_password(sessions, user_id, new, settings=settings, keep_session=keep_session, now=now)


def enrol_totp(
    sessions: sessionmaker[Session], user_id: int, password: str, *, settings: AuthSettings,
    now: dt.datetime | None = None,
) -> totp.Enrolment:
    """Start TOTP enrolment once the password is confirmed (a stolen access token alone must
    not be able to put a second factor of the thief's on the account).

    Raises:
        LoginRefused: wrong password or locked.
        totp.TotpStateError: TOTP is already on.
    """
    with sessions() as session:
        if totp.is_enabled(session, user_id):
            raise totp.TotpStateError("two-factor authentication is already on; disable it "
                                      "first", code="totp_already_enabled")
        user = session.get(User, user_id)
        name = "" if user is None else user.name
    verify(sessions, user_id, password, settings=settings, now=now)
    return totp.enrol(sessions, user_id, name)


def disable_totp(
    sessions: sessionmaker[Session], user_id: int, password: str, code: str, *,
    settings: AuthSettings, now: dt.datetime | None = None,
) -> None:
    """Turn TOTP off with the password and a current code (or a recovery code).

    Raises:
        LoginRefused: wrong password or code, or locked.
        totp.TotpStateError: TOTP is not on.
    """
    with sessions() as session:
        if not totp.is_enabled(session, user_id):
            raise totp.TotpStateError("two-factor authentication is not on",
                                      code="totp_not_enabled")
    verify(sessions, user_id, password, otp=code, settings=settings, now=now)
    totp.disable(sessions, user_id)


# ---------------------------------------------------------------- the password check
@functools.cache
def _dummy_hash() -> str:
    """Verified when there is no real hash, so a missing user takes as long as a real one."""
    return hash_password("finchat: no such user, no such password")


def _check(sessions: sessionmaker[Session], user_id: int | None, password: str,
           now: dt.datetime) -> _Attempt:
    """Verify ``password``; nothing is written. The hash is always verified, even for a
    locked account (its answer ignored), so the time taken tells nothing."""
    with sessions() as session:
        credential = None if user_id is None else session.get(UserCredential, user_id)
    stored = credential.password_hash if credential and credential.password_hash else None
    ok, new_hash = _hasher.verify_and_update(password, stored or _dummy_hash())
    if credential is None or stored is None:
        return _Attempt(user_id=None, password_ok=False, locked=False, totp_on=False,
                        new_hash=None)
    locked = credential.locked_until is not None and credential.locked_until > now
    return _Attempt(user_id=user_id, password_ok=ok, locked=locked,
                    totp_on=credential.totp_enabled, new_hash=new_hash)


def lock_seconds(failures: int, settings: AuthSettings) -> int:
    """How long the account locks after ``failures`` consecutive failures (0: not locked)."""
    beyond = failures - settings.lockout_threshold
    if beyond < 0:
        return 0
    return min(settings.lockout_base_seconds * 2 ** min(beyond, 30),
               settings.lockout_max_seconds)


def _record_failure(sessions: sessionmaker[Session], user_id: int, settings: AuthSettings,
                    now: dt.datetime) -> None:
    """Count a failure in one atomic update, then lock if the count calls for it."""
    with sessions.begin() as session:
        failures = session.execute(
            update(UserCredential)
            .where(UserCredential.user_id == user_id)
            .values(failed_logins=UserCredential.failed_logins + 1)
            .returning(UserCredential.failed_logins)
        ).scalar_one()
        seconds = lock_seconds(failures, settings)
        if seconds:
            session.execute(
                update(UserCredential)
                .where(UserCredential.user_id == user_id)
                .values(locked_until=now + dt.timedelta(seconds=seconds))
            )


def _record_success(sessions: sessionmaker[Session], user_id: int,
                    new_hash: str | None) -> None:
    values: dict[str, object] = {"failed_logins": 0, "locked_until": None}
    if new_hash is not None:
        values["password_hash"] = new_hash
    with sessions.begin() as session:
        session.execute(
            update(UserCredential).where(UserCredential.user_id == user_id).values(**values))
