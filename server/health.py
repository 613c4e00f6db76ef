"""``/healthz`` (the process is up) and ``/readyz`` (the database answers, the model is
loaded), for load balancers and orchestrators; neither needs a token."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text

from server.runtime import run_blocking, runtime_of

logger = logging.getLogger("finchat.server")


def add_routes(app: FastAPI) -> None:
    """Register this module's endpoints (tagged ``operations``; no token needed)."""
    app.add_api_route("/healthz", healthz, methods=["GET"], tags=["operations"])
    app.add_api_route("/readyz", readyz, methods=["GET"], tags=["operations"],
                      response_model=None)


async def healthz() -> dict[str, str]:
    """The process is up (no dependency checked)."""
    return {"status": "ok"}


async def readyz(request: Request) -> dict[str, str] | JSONResponse:
    """Ready to serve: the database answers and the model is loaded."""
    runtime = runtime_of(request)
    try:
        await run_blocking(_ping_database, runtime.engine)
    except Exception:
        logger.exception("readiness: database unreachable")
        return JSONResponse({"status": "unavailable", "reason": "database unreachable"},
                            status_code=503)
    if runtime.model is None:
        return JSONResponse({"status": "unavailable", "reason": "model not loaded"},
                            status_code=503)
    return {"status": "ready"}


def _ping_database(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
