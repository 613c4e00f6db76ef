"""Model backends and the factory that picks one from ``Settings.model``.

Backends are imported inside the factory: the ``openai`` SDK is sizeable and a process only
ever needs the one backend it was configured with.
"""

from __future__ import annotations

import os

from assistant.model import Model
from assistant.settings import Settings

MODEL_FORMS = "'offline', 'openai:<model-name>' or 'scripted:<script.json>'"


def make_model(settings: Settings) -> Model:
    """The backend named by ``settings.model``.

    * ``offline``: the embedded planner (no key, no network), the default.
    * ``openai:<model>``: any OpenAI-compatible server at ``settings.base_url``.
    * ``scripted:<file.json>``: replays a JSON list of assistant messages (tests only).

    Raises:
        ValueError: an unknown or incomplete model name (the message lists the forms).
    """
    kind, _, arg = settings.model.partition(":")
    if kind == "offline" and not arg:
        from assistant.backends.offline import OfflineModel

        return OfflineModel()
    if kind == "openai" and arg:
        from assistant.backends.openai_model import OpenAIModel

        return OpenAIModel(
            arg,
            base_url=settings.base_url,
            api_key=_api_key(settings),
            timeout=settings.timeout_seconds,
            max_retries=settings.max_retries,
            redact_pii=settings.redact_pii,
        )
    if kind == "scripted" and arg:
        from assistant.backends.scripted import ScriptedModel

        return ScriptedModel.from_file(arg)
    raise ValueError(f"unknown model {settings.model!r}; use {MODEL_FORMS}")


def _api_key(settings: Settings) -> str | None:
    """``FINCHAT_API_KEY``, else ``OPENAI_API_KEY`` but only for OpenAI's own endpoint: a
    key meant for OpenAI is never sent to another server."""
    if settings.api_key is not None:
        return settings.api_key.get_secret_value()
    if settings.base_url is None:
        return os.environ.get("OPENAI_API_KEY")
    return None
