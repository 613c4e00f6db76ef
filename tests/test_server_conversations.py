"""Persisted conversations: owner-scoped, replayable as neutral messages, feedback kept."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from assistant import conversations as conv
from assistant.messages import Message, ToolCall
from ledger.db import create_schema, make_engine, session_factory
from ledger.models import ConversationMessage, Feedback
from ledger.users import create_user


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[sessionmaker[Session], int, int]]:
    """Sessions and the ids of two users, ana and ben."""
    engine = make_engine(str(tmp_path / "conv.db"))
    create_schema(engine)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        ana, ben = create_user(session, "ana").id, create_user(session, "ben").id
    yield sessions, ana, ben
    engine.dispose()


def _turn(question: str, answer: str, amount: str) -> list[Message]:
    call = ToolCall(id="call_1", name="spending_breakdown",
                    arguments={"start_date": "2026-09-01", "end_date": "2026-09-30"})
    return [
        Message(role="user", content=question),
        Message(role="assistant", tool_calls=[call]),
        Message(role="tool", tool_call_id="call_1", name="spending_breakdown",
                content=f'{{"total": "{amount}"}}'),
        Message(role="assistant", content=answer),
    ]


def test_history_replays_every_message_with_tool_calls_in_order(db) -> None:
    sessions, ana, _ = db
    info = conv.create_conversation(sessions, ana)
    turn = _turn("How much on groceries?", "You spent 301.20 EUR.", "301.20")

    ids = conv.append_messages(sessions, ana, info.id, turn)

    assert len(ids) == 4 and ids == sorted(ids)
    assert conv.history(sessions, ana, info.id) == turn
    assert [m.id for m in conv.load_messages(sessions, ana, info.id)] == ids


def test_the_first_question_names_the_conversation_and_activity_orders_the_list(db) -> None:
    sessions, ana, _ = db
    older = conv.create_conversation(sessions, ana)
    newer = conv.create_conversation(sessions, ana, title="Budgets")
    conv.append_messages(sessions, ana, older.id, _turn("  Groceries   last month? ", "x", "1"))

    listed = conv.list_conversations(sessions, ana)

    assert [c.id for c in listed] == [older.id, newer.id]  # older was active last
    assert listed[0].title == "Groceries last month?"
    assert listed[1].title == "Budgets"


def test_another_users_conversation_is_indistinguishable_from_a_missing_one(db) -> None:
    sessions, ana, ben = db
    info = conv.create_conversation(sessions, ana)
    conv.append_messages(sessions, ana, info.id, _turn("q", "a", "1"))

    assert conv.list_conversations(sessions, ben) == []
    for call in (
        lambda: conv.get_conversation(sessions, ben, info.id),
        lambda: conv.load_messages(sessions, ben, info.id),
        lambda: conv.history(sessions, ben, info.id),
        lambda: conv.append_messages(sessions, ben, info.id, [Message(role="user", content="x")]),
        lambda: conv.delete_conversation(sessions, ben, info.id),
        lambda: conv.get_conversation(sessions, ana, "no-such-id"),
    ):
        with pytest.raises(conv.ConversationNotFound):
            call()
    assert len(conv.history(sessions, ana, info.id)) == 4  # ben's attempts changed nothing


def test_a_trimmed_history_starts_at_a_user_message(db) -> None:
    sessions, ana, _ = db
    info = conv.create_conversation(sessions, ana)
    first, second = _turn("q1", "a1", "1"), _turn("q2", "a2", "2")
    conv.append_messages(sessions, ana, info.id, first + second)

    # The last 6 messages would start at a tool call; the cut moves on to the next question.
    assert conv.history(sessions, ana, info.id, max_messages=6) == second
    assert conv.history(sessions, ana, info.id, max_messages=8) == first + second


def test_feedback_is_kept_once_per_user_and_message(db) -> None:
    sessions, ana, _ = db
    info = conv.create_conversation(sessions, ana)
    ids = conv.append_messages(sessions, ana, info.id, _turn("q", "a", "1"))
    answer_id = ids[-1]

    first = conv.record_feedback(sessions, ana, answer_id, rating=1)
    second = conv.record_feedback(sessions, ana, answer_id, rating=-1, comment="wrong month")

    assert first == second
    with sessions() as session:
        rows = session.execute(select(Feedback.rating, Feedback.comment)).all()
    assert rows == [(-1, "wrong month")]


def test_feedback_needs_an_assistant_message_of_ones_own(db) -> None:
    sessions, ana, ben = db
    info = conv.create_conversation(sessions, ana)
    ids = conv.append_messages(sessions, ana, info.id, _turn("q", "a", "1"))

    with pytest.raises(conv.ConversationNotFound):
        conv.record_feedback(sessions, ben, ids[-1], rating=1)  # not ben's
    with pytest.raises(conv.ConversationNotFound):
        conv.record_feedback(sessions, ana, ids[0], rating=1)  # a user message
    with pytest.raises(ValueError):
        conv.record_feedback(sessions, ana, ids[-1], rating=5)


def test_deleting_removes_messages_and_feedback(db) -> None:
    sessions, ana, _ = db
    kept, gone = conv.create_conversation(sessions, ana), conv.create_conversation(sessions, ana)
    conv.append_messages(sessions, ana, kept.id, _turn("q", "a", "1"))
    ids = conv.append_messages(sessions, ana, gone.id, _turn("q", "a", "1"))
    conv.record_feedback(sessions, ana, ids[-1], rating=1)

    conv.delete_conversation(sessions, ana, gone.id)

    assert [c.id for c in conv.list_conversations(sessions, ana)] == [kept.id]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(ConversationMessage)) == 4
        assert session.scalar(select(func.count()).select_from(Feedback)) == 0
