"""How long sign-in tokens live, when an account locks, and what a password must be.

Read from ``FINCHAT_*`` environment variables, like the other settings; every function that
needs them takes an ``AuthSettings`` so tests can pass their own.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_CHARS = 32


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FINCHAT_", extra="ignore")

    token_secret: SecretStr | None = None
    """Signs access tokens (``FINCHAT_TOKEN_SECRET``, at least 32 characters). Unset: a key
    derived from the data key (``ledger.crypto``), so rotating that key signs everyone out
    of their access tokens (refresh tokens keep working)."""
    access_token_minutes: int = Field(15, ge=1, le=24 * 60)
    """Lifetime of an access token; it cannot be revoked one by one, so keep it short."""
    refresh_token_days: int = Field(30, ge=1, le=365)
    """Lifetime of a refresh token; each use replaces it with a new one for as long again."""
    lockout_threshold: int = Field(5, ge=1)
    """Consecutive failed logins after which the account locks."""
    lockout_base_seconds: int = Field(30, ge=1)
    """First lock's length; each further failure doubles it."""
    lockout_max_seconds: int = Field(3600, ge=1)
    """The longest lock."""
    min_password_length: int = Field(12, ge=8)

    @field_validator("token_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None  # an empty variable means unset
        if len(value.get_secret_value()) < MIN_SECRET_CHARS:
            raise ValueError(f"must be at least {MIN_SECRET_CHARS} characters")
        return value
