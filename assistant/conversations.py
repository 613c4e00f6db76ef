"""Persisted conversations, always scoped by their owner.

Every function takes the caller's ``user_id`` and treats another user's conversation exactly
like a missing one (``ConversationNotFound``), so an API built on them answers 404 and never
confirms that someone else's id exists. Messages are stored as the neutral ``Message`` JSON,
tool calls and tool results included, so a later turn replays the same history to any model
backend; servers keep no conversation state in memory and any worker can continue any turn.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from assistant.messages import Message
from ledger.models import Conversation, ConversationMessage, Feedback

DEFAULT_TITLE = "New conversation"
_TITLE_LENGTH = 80


class ConversationNotFound(LookupError):
    """No such conversation or message for this user (it may belong to someone else)."""


@dataclass(frozen=True)
class ConversationInfo:
    id: str
    title: str
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class StoredMessage:
    id: int
    message: Message
    created_at: dt.datetime


def create_conversation(
    sessions: sessionmaker[Session], user_id: int, *, title: str | None = None
) -> ConversationInfo:
    """Start an empty conversation owned by ``user_id``."""
    now = _now()
    conversation = Conversation(
        id=str(uuid.uuid4()),
        user_id=user_id,
        title=_clean_title(title) or DEFAULT_TITLE,
        created_at=now,
        updated_at=now,
    )
    with sessions.begin() as session:
        session.add(conversation)
    return _info(conversation)


def list_conversations(
    sessions: sessionmaker[Session], user_id: int, *, limit: int = 50
) -> list[ConversationInfo]:
    """The user's conversations, most recently active first."""
    query = (
        select(Conversation)
        .where(Conversation.user_id == user_id)
        .order_by(Conversation.updated_at.desc(), Conversation.created_at.desc())
        .limit(limit)
    )
    with sessions() as session:
        return [_info(c) for c in session.scalars(query)]


def get_conversation(
    sessions: sessionmaker[Session], user_id: int, conversation_id: str
) -> ConversationInfo:
    """One conversation of the user.

    Raises:
        ConversationNotFound: unknown id, or owned by another user.
    """
    with sessions() as session:
        return _info(_owned(session, user_id, conversation_id))


def load_messages(
    sessions: sessionmaker[Session], user_id: int, conversation_id: str
) -> list[StoredMessage]:
    """Every stored message of the conversation in order, with its id.

    Raises:
        ConversationNotFound: unknown id, or owned by another user.
    """
    with sessions() as session:
        _owned(session, user_id, conversation_id)
        rows = session.scalars(
            select(ConversationMessage)
            .where(ConversationMessage.conversation_id == conversation_id)
            .order_by(ConversationMessage.id)
        )
        return [_stored(row) for row in rows]


def history(
    sessions: sessionmaker[Session],
    user_id: int,
    conversation_id: str,
    *,
    max_messages: int | None = None,
) -> list[Message]:
    """The conversation as neutral messages, ready to send to a model.

    With ``max_messages`` only the most recent messages are kept, cut at a user message so the
    history never starts with a tool result whose call was dropped.

    Raises:
        ConversationNotFound: unknown id, or owned by another user.
    """
    messages = [m.message for m in load_messages(sessions, user_id, conversation_id)]
    if max_messages is None or len(messages) <= max_messages:
        return messages
    tail = messages[-max_messages:]
    first_user = next((i for i, m in enumerate(tail) if m.role == "user"), len(tail))
    return tail[first_user:]


def append_messages(
    sessions: sessionmaker[Session],
    user_id: int,
    conversation_id: str,
    messages: Sequence[Message],
) -> list[int]:
    """Store ``messages`` at the end of the conversation and return their ids.

    The first user message also names a conversation that still has the default title.

    Raises:
        ConversationNotFound: unknown id, or owned by another user.
    """
    now = _now()
    with sessions.begin() as session:
        conversation = _owned(session, user_id, conversation_id)
        rows = [
            ConversationMessage(
                conversation_id=conversation_id,
                role=message.role,
                payload=message.model_dump_json(exclude_defaults=True),
                created_at=now,
            )
            for message in messages
        ]
        session.add_all(rows)
        conversation.updated_at = now
        if conversation.title == DEFAULT_TITLE:
            first_question = next((m.content for m in messages if m.role == "user"), None)
            conversation.title = _clean_title(first_question) or DEFAULT_TITLE
        session.flush()
        return [row.id for row in rows]


def delete_conversation(
    sessions: sessionmaker[Session], user_id: int, conversation_id: str
) -> None:
    """Delete the conversation, its messages and their feedback.

    Raises:
        ConversationNotFound: unknown id, or owned by another user.
    """
    with sessions.begin() as session:
        _owned(session, user_id, conversation_id)
        message_ids = select(ConversationMessage.id).where(
            ConversationMessage.conversation_id == conversation_id
        )
        # Explicit deletes: SQLite enforces ON DELETE CASCADE only with foreign keys switched on.
        session.execute(delete(Feedback).where(Feedback.message_id.in_(message_ids)))
        session.execute(
            delete(ConversationMessage).where(
                ConversationMessage.conversation_id == conversation_id
            )
        )
        session.execute(delete(Conversation).where(Conversation.id == conversation_id))


def record_feedback(
    sessions: sessionmaker[Session],
    user_id: int,
    message_id: int,
    *,
    rating: int,
    comment: str | None = None,
) -> int:
    """Store the user's rating (+1/-1) of one of their assistant messages; returns its id.

    A second rating of the same message replaces the first: the latest opinion counts once.

    Raises:
        ConversationNotFound: no assistant message with that id in the user's conversations.
        ValueError: ``rating`` is not +1 or -1.
    """
    if rating not in (1, -1):
        raise ValueError("rating must be +1 or -1")
    owned_message = (
        select(ConversationMessage.id)
        .join(Conversation, Conversation.id == ConversationMessage.conversation_id)
        .where(
            ConversationMessage.id == message_id,
            ConversationMessage.role == "assistant",
            Conversation.user_id == user_id,
        )
    )
    with sessions.begin() as session:
        if session.scalar(owned_message) is None:
            raise ConversationNotFound(f"no assistant message {message_id}")
        feedback = session.scalar(
            select(Feedback).where(Feedback.user_id == user_id, Feedback.message_id == message_id)
        )
        if feedback is None:
            feedback = Feedback(user_id=user_id, message_id=message_id, rating=rating)
            session.add(feedback)
        feedback.rating = rating
        feedback.comment = comment
        feedback.created_at = _now()
        session.flush()
        return feedback.id


def _owned(session: Session, user_id: int, conversation_id: str) -> Conversation:
    conversation = session.get(Conversation, conversation_id)
    if conversation is None or conversation.user_id != user_id:
        raise ConversationNotFound(f"no conversation {conversation_id!r}")
    return conversation


def _info(conversation: Conversation) -> ConversationInfo:
    return ConversationInfo(
        id=conversation.id,
        title=conversation.title,
        created_at=conversation.created_at,
        updated_at=conversation.updated_at,
    )


def _stored(row: ConversationMessage) -> StoredMessage:
    return StoredMessage(
        id=row.id, message=Message.model_validate_json(row.payload), created_at=row.created_at
    )


def _clean_title(text: str | None) -> str:
    words = " ".join((text or "").split())
    if len(words) <= _TITLE_LENGTH:
        return words
    return words[: _TITLE_LENGTH - 1].rstrip() + "…"


def _now() -> dt.datetime:
    """UTC without tzinfo: the columns are naive and SQLite drops offsets anyway."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
