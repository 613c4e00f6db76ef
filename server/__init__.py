"""The HTTP server: an OpenAI-compatible API, the widget API and the widget itself.

* ``/v1/models`` and ``/v1/chat/completions`` speak OpenAI's chat-completions protocol, so any
  OpenAI client (the SDK, LangChain, Open WebUI, LibreChat) works with only its base URL and
  API key changed. finchat's own tools run here, on the server; the client sees the answer.
* ``/api/...`` is the widget's API: persisted conversations and a turn streamed as rich SSE
  events (text, each tool step with a compact table/chart view, completion, feedback).
* ``/auth/...`` signs people in; ``/api/consents``, ``/api/audit``, ``/api/export``,
  ``/api/account`` and ``/api/admin/users`` are the privacy and administration API.
* ``/`` is a demo page and ``/static/widget.js`` the embeddable widget.

Who the caller is comes only from the bearer token (an API key or a password login's access
token); whose data a request reads is decided by one dependency (``access``: own data, or a
customer who consented), bound into the tool context; nothing in a request body or in model
output can change it.
Workers keep no state between requests (tokens and conversations live in the database), so
any number of them can run behind a load balancer. Run it with ``uvicorn server:app`` (settings
from ``FINCHAT_*``) or ``finchat serve``.

One concept per module: ``application`` (``create_app``: routes, handlers, middleware),
``settings``, ``runtime`` (what requests share), ``auth`` (the bearer token's user),
``login`` (``/auth``: passwords, tokens, TOTP, API keys), ``access`` (roles and consent),
``privacy_api`` (consents, audit, export, erasure, admin), ``ratelimit`` (per token and address),
``turns`` (a turn as both APIs run it), ``openai_request`` and ``openai_api``, ``widget_api``
and ``widget_history``, ``pages`` (``/``) and ``health``, ``errors`` (OpenAI's error shape),
``bodies`` (JSON bodies), ``limits`` (body size), ``logs`` (JSON logs, request ids) and
``profiles`` (the per-worker profile cache).
"""

from __future__ import annotations

from server.application import create_app
from server.errors import ApiError
from server.logs import JsonFormatter, configure_logging, uvicorn_log_config
from server.openai_request import MODEL_ID
from server.profiles import ProfileCache
from server.runtime import Runtime
from server.settings import ServerSettings

__all__ = [
    "MODEL_ID",
    "ApiError",
    "JsonFormatter",
    "ProfileCache",
    "Runtime",
    "ServerSettings",
    "app",
    "configure_logging",
    "create_app",
    "uvicorn_log_config",
]

app = create_app()
"""The application ``uvicorn server:app`` serves, configured from ``FINCHAT_*``."""
