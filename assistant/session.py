"""One user's conversation over a ledger: opens what a turn needs and remembers the history.

The CLI (and anything else that talks for one local user) goes through here, so "which user,
which day, which model" is decided in one place. The server binds the user from its token and
calls ``run_turn`` itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import aclosing
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

import prompts
from assistant.agent import run_turn
from assistant.backends import make_model
from assistant.events import AgentEvent, TurnCompleted
from assistant.messages import Message
from assistant.model import Model
from assistant.settings import Settings
from ledger.db import make_engine, session_factory
from ledger.models import User
from ledger.queries import ledger_today
from ledger.users import get_user_by_name
from tools.base import ToolContext, ToolRegistry
from tools.profile import UserProfile, load_profile


class SessionError(Exception):
    """The ledger, the user or the model cannot be opened; the message is one line a user
    can act on."""


class ChatSession:
    """A conversation of one user; ``turn`` streams one answer and extends ``history``."""

    def __init__(
        self,
        *,
        settings: Settings,
        engine: Engine,
        model: Model,
        registry: ToolRegistry,
        ctx: ToolContext,
        profile: UserProfile,
    ):
        self.settings = settings
        self.model = model
        self.registry = registry
        self.ctx = ctx
        self.profile = profile
        self.history: list[Message] = []
        self._engine = engine

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        user: str | None = None,
        model: Model | None = None,
        registry: ToolRegistry | None = None,
    ) -> ChatSession:
        """Open the ledger of ``settings`` for ``user`` (default: the ledger's first user).

        "Today" is ``settings.today``, else the user's latest transaction date (a demo or
        imported ledger is not live), else the calendar date.

        Raises:
            SessionError: no ledger at the path, not a finchat ledger, unknown user, or an
                unusable model setting.
        """
        _check_turn_settings(settings)
        engine = _open_engine(settings.database_url)
        try:
            sessions = session_factory(engine)
            user_id, profile = _load_user(sessions, user, settings)
            model = model or _make_model(settings)
        except SQLAlchemyError as exc:
            engine.dispose()
            where = engine.url.render_as_string(hide_password=True)
            raise SessionError(f"cannot read a finchat ledger at {where}: {_reason(exc)}") from exc
        except BaseException:
            engine.dispose()
            raise
        if registry is None:
            from tools import default_registry

            registry = default_registry()
        ctx = ToolContext(sessions=sessions, user_id=user_id, today=profile.today)
        return cls(
            settings=settings,
            engine=engine,
            model=model,
            registry=registry,
            ctx=ctx,
            profile=profile,
        )

    async def turn(
        self, text: str, *, sampling: dict[str, Any] | None = None
    ) -> AsyncIterator[AgentEvent]:
        """Answer ``text``; a completed turn (question, tool rounds, answer) joins the history,
        a failed or interrupted one leaves it untouched."""
        events = run_turn(
            model=self.model,
            registry=self.registry,
            ctx=self.ctx,
            profile=self.profile,
            history=self.history,
            user_message=text,
            prompt_version=self.settings.prompt_version,
            max_steps=self.settings.max_steps,
            settings=sampling,
        )
        async with aclosing(events) as stream:
            async for event in stream:
                if isinstance(event, TurnCompleted):
                    self.history = [
                        *self.history,
                        Message(role="user", content=text),
                        *event.new_messages,
                    ]
                yield event

    def close(self) -> None:
        self._engine.dispose()


def _open_engine(url: str) -> Engine:
    """An engine for ``url``; a SQLite file must already exist (connecting would create an
    empty one and hide a mistyped path)."""
    try:
        path = _sqlite_path(url)
        if path is not None and not path.exists():
            raise SessionError(f"no ledger at {path}; create one first or pass --db")
        return make_engine(url)
    except (SQLAlchemyError, ValueError) as exc:  # the URL is not echoed: it may hold a password
        raise SessionError(
            "invalid database URL: use a file path or a SQLAlchemy URL such as "
            "postgresql+psycopg://user@host/db"
        ) from exc


def _check_turn_settings(settings: Settings) -> None:
    """Settings ``run_turn`` would reject, caught before anything is opened."""
    if settings.prompt_version not in prompts.list_versions():
        known = ", ".join(prompts.list_versions())
        raise SessionError(
            f"unknown prompt version {settings.prompt_version!r} (FINCHAT_PROMPT_VERSION); "
            f"available: {known}"
        )
    if settings.max_steps < 1:
        raise SessionError("FINCHAT_MAX_STEPS must be at least 1")


def _sqlite_path(url: str) -> Path | None:
    if "://" not in url:
        return Path(url).expanduser()
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).expanduser()


def _load_user(
    sessions: sessionmaker[Session], name: str | None, settings: Settings
) -> tuple[int, UserProfile]:
    """The user's id and profile, "today" resolved (see ``ChatSession.open``)."""
    with sessions() as session:
        user = _find_user(session, name)
        today = settings.today or ledger_today(session, user.id) or dt.date.today()
        return user.id, load_profile(session, user.id, today)


def _reason(exc: SQLAlchemyError) -> str:
    """The driver's first line ("no such table: users", "connection refused"), which names
    no password, instead of SQLAlchemy's multi-line text with the SQL."""
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__


def _find_user(session: Session, name: str | None) -> User:
    if name is not None:
        user = get_user_by_name(session, name)
        if user is None:
            raise SessionError(f"no user named {name!r} in this ledger")
        return user
    first = session.scalar(select(User).order_by(User.id).limit(1))
    if first is None:
        raise SessionError("the ledger has no users yet")
    return first


def _make_model(settings: Settings) -> Model:
    try:
        return make_model(settings)
    except (ValueError, OSError) as exc:  # an unknown model name, an unreadable script file
        raise SessionError(str(exc)) from exc
