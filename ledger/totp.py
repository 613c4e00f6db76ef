"""A second factor: time-based one-time codes (TOTP, RFC 6238) and single-use recovery codes.

Enrolment stores a new secret (encrypted at rest) that does nothing until the user proves their
authenticator app holds it by confirming one code; confirming turns it on and returns ten
recovery codes, shown once and stored as SHA-256 (80 random bits each, so a hash is enough).
A code is accepted in its 30-second step and the steps on either side (clock drift), and never
twice: the last accepted step is recorded, and only later steps pass. These functions do not
check passwords: ``ledger.credentials`` asks for one before enrolling or disabling.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import pyotp
from sqlalchemy import delete, or_, update
from sqlalchemy.orm import Session, sessionmaker

from ledger.audit import utcnow
from ledger.credential_models import RecoveryCode, UserCredential

ISSUER = "finchat"
RECOVERY_CODES = 10
_STEP_SECONDS = 30
_DRIFT_STEPS = 1


class TotpStateError(Exception):
    """The request does not fit the user's TOTP state; ``code`` says which way."""

    def __init__(self, message: str, *, code: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Enrolment:
    secret: str
    """Base32, for typing into an authenticator app."""
    uri: str
    """``otpauth://totp/...``: the same secret as a link or QR code."""


def is_enabled(session: Session, user_id: int) -> bool:
    credential = session.get(UserCredential, user_id)
    return credential is not None and credential.totp_enabled


def enrol(sessions: sessionmaker[Session], user_id: int, account_name: str) -> Enrolment:
    """Give ``user_id`` a new, not yet active secret (replacing an unconfirmed one).

    Raises:
        TotpStateError: TOTP is already on (disable it first).
    """
    secret = pyotp.random_base32()
    with sessions.begin() as session:
        credential = session.get(UserCredential, user_id)
        if credential is None:
            credential = UserCredential(user_id=user_id)
            session.add(credential)
        elif credential.totp_enabled:
            raise TotpStateError("two-factor authentication is already on; disable it first",
                                 code="totp_already_enabled")
        credential.totp_secret = secret
        credential.totp_last_step = None
    uri = pyotp.TOTP(secret).provisioning_uri(name=account_name, issuer_name=ISSUER)
    return Enrolment(secret=secret, uri=uri)


def confirm(
    sessions: sessionmaker[Session], user_id: int, code: str, *, now: dt.datetime | None = None
) -> list[str]:
    """Turn TOTP on once ``code`` matches the enrolled secret; returns new recovery codes.

    Raises:
        TotpStateError: nothing enrolled, already on, or a wrong code (``invalid_otp``).
    """
    now = now or utcnow()
    with sessions.begin() as session:
        credential = session.get(UserCredential, user_id)
        if credential is None or not credential.totp_secret:
            raise TotpStateError("no pending enrolment: start at /auth/totp/enrol",
                                 code="totp_not_enrolled")
        if credential.totp_enabled:
            raise TotpStateError("two-factor authentication is already on",
                                 code="totp_already_enabled")
        if not _accept_totp(session, credential, code, now):
            raise TotpStateError("wrong code: check the authenticator app's clock",
                                 code="invalid_otp")
        credential.totp_enabled = True
        return _replace_recovery_codes(session, user_id)


def verify(session: Session, user_id: int, code: str, *, now: dt.datetime) -> bool:
    """Whether ``code`` is a fresh TOTP code or an unused recovery code of ``user_id``; an
    accepted one is used up. The caller's transaction records that (commit it)."""
    credential = session.get(UserCredential, user_id)
    if credential is None or not credential.totp_enabled:
        return False
    code = code.strip()
    if _looks_like_totp(code):
        return _accept_totp(session, credential, code, now)
    return _use_recovery_code(session, user_id, code, now)


def disable(sessions: sessionmaker[Session], user_id: int) -> None:
    """Turn TOTP off and forget its secret and recovery codes (the caller checked the user)."""
    with sessions.begin() as session:
        credential = session.get(UserCredential, user_id)
        if credential is not None:
            credential.totp_secret = None
            credential.totp_enabled = False
            credential.totp_last_step = None
        session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))


def _accept_totp(session: Session, credential: UserCredential, code: str,
                 now: dt.datetime) -> bool:
    """Match ``code`` against the steps around ``now``; claim the step so it cannot be reused
    (a conditional update: two requests with the same code cannot both win)."""
    if not _looks_like_totp(code):
        return False
    totp = pyotp.TOTP(credential.totp_secret or "")
    current = int(now.replace(tzinfo=dt.UTC).timestamp()) // _STEP_SECONDS
    for step in range(current - _DRIFT_STEPS, current + _DRIFT_STEPS + 1):
        if not hmac.compare_digest(totp.generate_otp(step), code):
            continue
        claimed = session.execute(
            update(UserCredential)
            .where(UserCredential.user_id == credential.user_id,
                   or_(UserCredential.totp_last_step.is_(None),
                       UserCredential.totp_last_step < step))
            .values(totp_last_step=step)
            .execution_options(synchronize_session="fetch")
        ).rowcount
        return claimed == 1
    return False


def _looks_like_totp(code: str) -> bool:
    """Six ASCII digits (``str.isdigit`` alone would let other scripts' digits through)."""
    return len(code) == 6 and code.isascii() and code.isdigit()


def _use_recovery_code(session: Session, user_id: int, code: str, now: dt.datetime) -> bool:
    statement = (
        update(RecoveryCode)
        .where(RecoveryCode.code_sha256 == _hash_recovery_code(code),
               RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
        .values(used_at=now)
    )
    return session.execute(statement).rowcount == 1


def _replace_recovery_codes(session: Session, user_id: int) -> list[str]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    session.add_all(RecoveryCode(code_sha256=_hash_recovery_code(code), user_id=user_id)
                    for code in codes)
    return codes


def _new_recovery_code() -> str:
    """80 random bits as four groups of four base32 characters: ``abcd-efgh-ijkl-mnop``."""
    text = base64.b32encode(secrets.token_bytes(10)).decode("ascii").lower()
    return "-".join(text[i : i + 4] for i in range(0, 16, 4))


def _hash_recovery_code(code: str) -> str:
    """Case, spaces and dashes do not matter when typing a code back."""
    normal = "".join(code.split()).replace("-", "").lower()
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()
