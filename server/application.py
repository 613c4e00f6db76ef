"""The application: the runtime, the routes, error handlers and middleware, wired once.

Nothing connects or loads at build time; the lifespan creates missing tables and loads the
model at startup, and keeps serving (``/readyz`` says why) if the database is down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy.exc import SQLAlchemyError

from assistant.backends import make_model
from assistant.model import Model
from assistant.settings import Settings
from ledger.db import create_schema, make_engine, session_factory
from server import health, ledger_api, login, openai_api, pages, privacy_api, widget_api
from server.errors import add_error_handlers
from server.limits import BodySizeLimitMiddleware, RequestTooLarge, too_large_handler
from server.logs import RequestContextMiddleware, configure_logging
from server.profiles import ProfileCache
from server.ratelimit import RateLimitMiddleware
from server.runtime import Runtime, run_blocking
from server.settings import ServerSettings, server_settings
from tools import default_registry
from tools.base import ToolRegistry

logger = logging.getLogger("finchat.server")


def create_app(
    settings: Settings | None = None,
    *,
    model: Model | None = None,
    registry: ToolRegistry | None = None,
    demo_page_token: str | None = None,
) -> FastAPI:
    """Build the application; nothing is connected or loaded until startup.

    Args:
        settings: defaults to ``ServerSettings()`` (``FINCHAT_*`` variables); plain
            ``Settings`` are extended with the server options from the environment.
        model: a model to use instead of building one from ``settings.model`` (tests).
        registry: the tools (default: every built-in tool).
        demo_page_token: ``--demo`` only: the token the page at ``/`` gives its widget, so a
            first-time visitor can chat at once. Anyone who can load the page can use it.
    """
    options = server_settings(settings)
    engine = make_engine(options.database_url)
    runtime = Runtime(
        settings=options,
        engine=engine,
        sessions=session_factory(engine),
        registry=registry or default_registry(),
        profiles=ProfileCache(options.profile_cache_seconds),
        model=model,
        page_token=demo_page_token,
    )
    app = FastAPI(title="finchat", version="0.1.0", lifespan=_lifespan,
                  description="Conversational finance assistant over your own ledger.")
    app.state.runtime = runtime
    add_error_handlers(app)
    app.add_exception_handler(RequestTooLarge, too_large_handler)
    for module in (openai_api, widget_api, ledger_api, login, privacy_api, pages, health):
        module.add_routes(app)
    _add_middleware(app, options)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Startup: JSON logs, missing tables, the model; shutdown: the engine's connections."""
    runtime: Runtime = app.state.runtime
    engine, settings = runtime.engine, runtime.settings
    configure_logging()
    try:
        await run_blocking(create_schema, engine)
    except SQLAlchemyError:  # keep serving: /readyz reports it until the database is back
        logger.exception("database unreachable at startup")
    if runtime.model is None:
        runtime.model = await run_blocking(make_model, settings)
    logger.info("ready", extra={"fields": {"model": settings.model,
                                           "database": engine.url.render_as_string()}})
    warming = asyncio.create_task(run_blocking(_warm_knowledge, str(engine.url))) \
        if settings.warm_knowledge else None
    yield
    if warming is not None:
        warming.cancel()
    engine.dispose()


def _warm_knowledge(ledger_url: str) -> None:
    """Build or sync the default product index for this ledger (the key ``product_lookup``
    uses), so no user waits for it; a failure is logged and the tool retries on first use."""
    from knowledge import default_retriever

    try:
        default_retriever(ledger_url)
        logger.info("product documents indexed")
    except Exception:
        logger.exception("indexing the product documents failed")


def _add_middleware(app: FastAPI, settings: ServerSettings) -> None:
    """Each addition wraps the ones before it, so a request meets the request id and log
    line first, then CORS (so a browser can read a 429), then the rate limits, then the body
    limit."""
    app.add_middleware(BodySizeLimitMiddleware, limit=settings.max_request_bytes,
                       path_limits=ledger_api.BODY_LIMITS)
    app.add_middleware(RateLimitMiddleware, settings=settings)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID", "X-Finchat-Customer"],
            expose_headers=["X-Request-ID"],
            max_age=600,
        )
    app.add_middleware(RequestContextMiddleware)
