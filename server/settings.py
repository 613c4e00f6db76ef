"""The server's options, on top of the assistant's settings (also ``FINCHAT_*`` variables)."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from limits import parse_many
from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from assistant.settings import Settings

RATE_LIMIT_STORAGE_SCHEMES = ("memory", "redis", "rediss", "redis+unix")
"""Where rate-limit counters may live: this process, or a Redis server all workers share."""


class ServerSettings(Settings):
    """Server options on top of the assistant's settings (also ``FINCHAT_*`` variables)."""

    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Origins allowed to call the API from a browser, comma-separated in
    ``FINCHAT_CORS_ORIGINS``; empty means same-origin only (the demo page)."""
    max_request_bytes: int = 256 * 1024
    """Larger request bodies are refused with 413 before they are read."""
    history_messages: int = 40
    """Stored messages replayed to the model per widget turn (cut at a user message)."""
    max_message_chars: int = 4000
    """Longest user message the widget API accepts."""
    profile_cache_seconds: float = 10.0
    """How long a worker reuses a user's profile (names for the tool enums); 0 disables."""
    warm_knowledge: bool = False
    """Index the product documents in the background at startup, so the first product
    question does not wait for it (``finchat serve`` turns this on; tests leave it off)."""
    rate_limit_chat_per_token: str = "30/minute"
    """Chat turns one bearer token may start (``POST /v1/chat/completions`` and
    ``POST /api/conversations/{id}/messages``), in the ``limits`` notation: ``30/minute``,
    several as ``30/minute;500/day``; empty or ``0`` turns the limit off."""
    rate_limit_chat_per_ip: str = "60/minute"
    """Chat turns one client address may start, whatever the token (same notation)."""
    rate_limit_login_per_ip: str = "10/minute"
    """Login attempts (``POST /auth/token``, ``POST /auth/refresh``) per client address."""
    rate_limit_storage: str = "memory://"
    """Where the counters live: ``memory://`` (each worker counts alone) or a Redis URL such
    as ``redis://127.0.0.1:6379`` that every worker shares."""
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Addresses or networks of reverse proxies whose ``X-Forwarded-For`` names the client,
    comma-separated in ``FINCHAT_TRUSTED_PROXIES``; empty means the header is ignored."""

    @field_validator("cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("rate_limit_chat_per_token", "rate_limit_chat_per_ip",
                     "rate_limit_login_per_ip")
    @classmethod
    def _check_rate_limit(cls, value: str) -> str:
        """``0`` and blanks mean "off" (stored as ``""``); anything else must parse, so a
        typo fails at startup instead of silently limiting nothing."""
        value = value.strip()
        if value in ("", "0"):
            return ""
        parse_many(value)  # ValueError names the bad notation
        return value

    @field_validator("rate_limit_storage")
    @classmethod
    def _check_storage(cls, value: str) -> str:
        scheme = value.partition("://")[0].removeprefix("async+")
        if scheme not in RATE_LIMIT_STORAGE_SCHEMES:
            raise ValueError(f"rate limit storage must start with one of "
                             f"{', '.join(s + '://' for s in RATE_LIMIT_STORAGE_SCHEMES)}")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_networks(cls, value: list[str]) -> list[str]:
        for item in value:
            ipaddress.ip_network(item, strict=False)  # ValueError names the bad address
        return value


def server_settings(settings: Settings | None) -> ServerSettings:
    """``settings`` as server settings: ``None`` reads the environment, and plain assistant
    settings keep what was set on them and take the server options from the environment."""
    if settings is None:
        return ServerSettings()
    if isinstance(settings, ServerSettings):
        return settings
    return ServerSettings(**settings.model_dump(exclude_unset=True))
