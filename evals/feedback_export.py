"""Turning thumbs-down answers into draft evaluation cases.

Each thumbs-down (``Feedback.rating == -1``) becomes a case marked ``draft: true`` holding the
conversation up to the rated answer: earlier questions as context turns, the rated question
with the tool calls the agent made prefilled as the expectation (they are what went wrong, or
part of it, so a person must correct them), and the answer and the user's comment in the
description. Drafts load like any case but are not run until someone removes ``draft``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from assistant.conversations import load_messages
from assistant.messages import Message
from ledger.models import ConversationMessage, Feedback, User

HEADER = """\
# Draft evaluation cases exported from thumbs-down feedback.
# For each case: check the question, correct the expected calls (they are what the agent
# did), add facts (oracle queries or strings), set `today` to the ledger date the user meant,
# point `user` at a demo user, then delete `draft: true`. See docs/evals.md.
"""


@dataclass(frozen=True)
class _Rated:
    feedback_id: int
    user_id: int
    user_name: str
    conversation_id: str
    message_id: int
    comment: str | None
    created_at: dt.datetime


def export_feedback(
    sessions: sessionmaker[Session], out: Path, *, since: dt.date | None = None
) -> int:
    """Write one draft case per thumbs-down (oldest first) to ``out``; returns how many."""
    drafts = [_draft(sessions, rated) for rated in _thumbs_down(sessions, since)]
    out.parent.mkdir(parents=True, exist_ok=True)
    body = yaml.safe_dump({"cases": drafts}, sort_keys=False, allow_unicode=True, width=100)
    out.write_text(HEADER + body, encoding="utf-8")
    return len(drafts)


def _thumbs_down(sessions: sessionmaker[Session], since: dt.date | None) -> list[_Rated]:
    query = (
        select(Feedback, ConversationMessage.conversation_id, User.name)
        .join(ConversationMessage, ConversationMessage.id == Feedback.message_id)
        .join(User, User.id == Feedback.user_id)
        .where(Feedback.rating == -1)
        .order_by(Feedback.created_at, Feedback.id)
    )
    if since is not None:
        query = query.where(Feedback.created_at >= dt.datetime.combine(since, dt.time()))
    with sessions() as session:
        return [
            _Rated(fb.id, fb.user_id, name, conversation_id, fb.message_id, fb.comment,
                   fb.created_at)
            for fb, conversation_id, name in session.execute(query)
        ]


def _draft(sessions: sessionmaker[Session], rated: _Rated) -> dict[str, Any]:
    stored = load_messages(sessions, rated.user_id, rated.conversation_id)
    upto = [m.message for m in stored if m.id <= rated.message_id]
    last_user = max((i for i, m in enumerate(upto) if m.role == "user"), default=None)
    if last_user is None:
        turns: list[dict[str, Any]] = []
    else:
        earlier = [{"user": m.content or ""} for m in upto[:last_user] if m.role == "user"]
        question = upto[last_user].content or ""
        calls = _calls(upto[last_user + 1 :])
        turns = [*earlier, {"user": question, "expect": {"calls": calls}}]
    answer = upto[-1].content if upto else ""
    description = f"Thumbs down on {rated.created_at:%Y-%m-%d}."
    if rated.comment:
        description += f" Comment: {rated.comment}"
    description += f" Answer given: {answer}"
    return {
        "id": f"feedback-{rated.feedback_id}",
        "draft": True,
        "user": rated.user_name,
        "tags": ["feedback"],
        "description": description,
        "turns": turns or [{"user": "(the conversation had no question)"}],
    }


def _calls(messages: list[Message]) -> list[dict[str, Any]]:
    """The calls the agent made for the rated answer, as exact expectations to correct."""
    calls = []
    for message in messages:
        for call in message.tool_calls:
            args = call.arguments if isinstance(call.arguments, dict) else {}
            calls.append({"name": call.name, "args": args})
    return calls
