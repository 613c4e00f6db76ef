"""One turn as both APIs run it: the user bound into the tools, then the agent loop, logged.

``setup_turn`` is the only place a turn's user is decided: the subject of the request's
``server.access.Access`` (the token's user, or a customer an advisor may read), with the
actions that access permits bound into the tools and the tools offered to the model cut to
them; ``logged_turn`` runs ``assistant.agent.run_turn`` and writes one ``turn`` log line
with its timings, tools and tokens.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from assistant.agent import run_turn
from assistant.events import AgentEvent, TextDelta, TurnCompleted, TurnFailed
from assistant.messages import Message
from ledger.policy import Action
from ledger.queries import ledger_today
from server.access import Access
from server.runtime import Runtime
from tools.base import ToolContext, ToolRegistry
from tools.profile import UserProfile, load_profile

logger = logging.getLogger("finchat.server")


@dataclass(frozen=True)
class TurnSetup:
    """A user's tool context and profile, bound by the server for one turn."""

    ctx: ToolContext
    profile: UserProfile
    registry: ToolRegistry
    """The tools offered to the model: those the access permits."""


def setup_turn(runtime: Runtime, access: Access) -> TurnSetup:
    """Bind the access's subject and permitted actions into the tool context: the only place
    a turn's user is decided."""
    user_id = access.customer_id
    with runtime.sessions() as session:
        today = runtime.settings.today or ledger_today(session, user_id) or dt.date.today()
        profile = runtime.profiles.get(user_id, today)
        if profile is None:
            profile = load_profile(session, user_id, today)
            runtime.profiles.put(user_id, today, profile)
    if Action.READ_TRANSACTIONS not in access.permitted:  # payees are transaction detail
        profile = profile.model_copy(update={"payees": []})
    ctx = ToolContext(sessions=runtime.sessions, user_id=user_id, today=profile.today,
                      permitted=access.permitted, actor_id=access.actor)
    registry = runtime.registry if access.own else runtime.registry.restricted(access.permitted)
    return TurnSetup(ctx=ctx, profile=profile, registry=registry)


async def logged_turn(
    runtime: Runtime,
    setup: TurnSetup,
    *,
    history: list[Message],
    user_message: str,
    sampling: dict[str, Any],
    endpoint: str,
) -> AsyncIterator[AgentEvent]:
    """``run_turn`` plus one log line with its timings, tools and tokens.

    The consumer must close this stream when it stops early (``aclosing``): closing it closes
    the agent loop, which closes the model's stream, so a disconnected client stops the work.
    """
    settings = runtime.settings
    started = time.perf_counter()
    first_token_ms: float | None = None
    outcome = "cancelled"
    try:
        async with aclosing(
            run_turn(
                model=runtime.require_model(),
                registry=setup.registry,
                ctx=setup.ctx,
                profile=setup.profile,
                history=history,
                user_message=user_message,
                prompt_version=settings.prompt_version,
                max_steps=settings.max_steps,
                settings=sampling,
            )
        ) as events:
            async for event in events:
                if isinstance(event, TextDelta) and first_token_ms is None:
                    first_token_ms = (time.perf_counter() - started) * 1000
                if isinstance(event, TurnCompleted):
                    outcome = "completed"
                    _log_turn(event, endpoint=endpoint, first_token_ms=first_token_ms)
                elif isinstance(event, TurnFailed):
                    outcome = "failed"
                yield event
    finally:
        if outcome != "completed":
            duration_ms = round((time.perf_counter() - started) * 1000, 2)
            fields = {"endpoint": endpoint, "outcome": outcome, "duration_ms": duration_ms}
            logger.warning("turn not completed", extra={"fields": fields})


def token_usage(event: TurnCompleted) -> dict[str, int]:
    """A completed turn's token counts in OpenAI's ``usage`` shape."""
    return {
        "prompt_tokens": event.usage.prompt_tokens,
        "completion_tokens": event.usage.completion_tokens,
        "total_tokens": event.usage.total_tokens,
    }


def _log_turn(event: TurnCompleted, *, endpoint: str, first_token_ms: float | None) -> None:
    tools = [
        {"name": c.name, "ok": c.ok, "duration_ms": round(c.duration_ms, 2)}
        for c in event.tool_calls
    ]
    fields = {
        "endpoint": endpoint,
        "outcome": "completed",
        "steps": event.steps,
        "duration_ms": round(event.duration_ms, 2),
        "first_token_ms": None if first_token_ms is None else round(first_token_ms, 2),
        "tools": tools,
        "prompt_tokens": event.usage.prompt_tokens,
        "completion_tokens": event.usage.completion_tokens,
        "finish_reason": event.finish_reason,
    }
    logger.info("turn", extra={"fields": fields})
