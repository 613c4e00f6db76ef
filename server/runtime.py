"""What every request shares (settings, database, model, tools), and how blocking work runs.

Workers keep no per-user state here beyond the short-lived profile cache: tokens and
conversations live in the database, so any number of workers can serve the same users.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from anyio import to_thread
from fastapi import Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from assistant.model import Model
from server.errors import ApiError
from server.profiles import ProfileCache
from server.settings import ServerSettings
from tools.base import ToolRegistry

T = TypeVar("T")


@dataclass
class Runtime:
    """What every request shares: settings, the database, the model and the tools."""

    settings: ServerSettings
    engine: Engine
    sessions: sessionmaker[Session]
    registry: ToolRegistry
    profiles: ProfileCache
    model: Model | None = None
    """Built at startup unless one was injected (tests, benchmarks)."""
    page_token: str | None = None
    """Only in ``--demo`` mode: the token the demo page at ``/`` hands to its widget."""

    def require_model(self) -> Model:
        if self.model is None:
            raise ApiError(503, "the model is not loaded yet", type="server_error")
        return self.model


def runtime_of(request: Request) -> Runtime:
    """The runtime of the application serving ``request``."""
    return request.app.state.runtime


async def run_blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking database work in a worker thread: one slow query never stalls streams."""
    return await to_thread.run_sync(lambda: fn(*args, **kwargs))
