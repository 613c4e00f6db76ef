"""The server's options, on top of the assistant's settings (also ``FINCHAT_*`` variables)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from assistant.settings import Settings


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

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value


def server_settings(settings: Settings | None) -> ServerSettings:
    """``settings`` as server settings: ``None`` reads the environment, and plain assistant
    settings keep what was set on them and take the server options from the environment."""
    if settings is None:
        return ServerSettings()
    if isinstance(settings, ServerSettings):
        return settings
    return ServerSettings(**settings.model_dump(exclude_unset=True))
