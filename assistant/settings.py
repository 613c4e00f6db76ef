"""Settings from ``FINCHAT_*`` environment variables; CLI flags override them."""

from __future__ import annotations

import datetime as dt

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FINCHAT_", extra="ignore")

    model: str = "offline"
    """``offline`` (embedded, no key), ``scripted`` (tests) or ``openai:<model-name>``."""
    base_url: str | None = None
    """An OpenAI-compatible endpoint, e.g. ``http://localhost:11434/v1`` for Ollama."""
    api_key: SecretStr | None = None
    database_url: str = "finchat.db"
    """A SQLAlchemy URL, or a path taken as a SQLite file."""
    today: dt.date | None = None
    """Pin "today" (default: the last transaction date in the ledger)."""
    prompt_version: str = "v1"
    max_steps: int = 6
    """Model calls per user turn, tool rounds included."""
    timeout_seconds: float = 60.0
    max_retries: int = 2
    redact_pii: bool = True
    """Mask account and card numbers, e-mails, phones and addresses in what an external model
    receives (the offline model sees everything, locally)."""
