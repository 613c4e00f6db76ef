"""Thumbs-down feedback exported as draft evaluation cases that the case loader accepts."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.conversations import append_messages, create_conversation, record_feedback
from assistant.messages import Message, ToolCall
from cli.evaluate import eval_command
from evals.cases import load_file
from ledger.db import create_schema, make_engine, session_factory
from ledger.users import create_user


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """One conversation of two questions: the second answer got a thumbs down, the first a
    thumbs up; another user's thumbs down lives in the same ledger."""
    path = tmp_path / "ledger.db"
    engine = make_engine(str(path))
    create_schema(engine)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        alice = create_user(session, "alice").id
        bob = create_user(session, "bob").id
    conversation = create_conversation(sessions, alice).id
    call = ToolCall(id="c1", name="spending_breakdown",
                    arguments={"start_date": "2026-09-01", "end_date": "2026-09-30",
                               "category": "Coffee"})
    ids = append_messages(sessions, alice, conversation, [
        Message(role="user", content="How much is in checking?"),
        Message(role="assistant", content="€7,306.83."),
        Message(role="user", content="And what did coffee cost me last month?"),
        Message(role="assistant", tool_calls=[call]),
        Message(role="tool", content='{"total": "61.20"}', tool_call_id="c1",
                name="spending_breakdown"),
        Message(role="assistant", content="You spent €61.20 on coffee."),
    ])
    record_feedback(sessions, alice, ids[1], rating=1)
    record_feedback(sessions, alice, ids[5], rating=-1, comment="I meant the month before")
    other = create_conversation(sessions, bob).id
    bob_ids = append_messages(sessions, bob, other, [
        Message(role="user", content="hello"), Message(role="assistant", content="Hi!")])
    record_feedback(sessions, bob, bob_ids[1], rating=-1)
    engine.dispose()
    return path


def test_thumbs_down_become_loadable_drafts(ledger: Path, tmp_path: Path) -> None:
    out = tmp_path / "drafts.yaml"
    result = CliRunner().invoke(eval_command, ["export-feedback", "--db", str(ledger),
                                               "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 draft case(s)" in result.output
    assert out.read_text().startswith("# Draft evaluation cases")
    first, second = load_file(out)
    assert first.draft and first.user == "alice" and "feedback" in first.tags
    assert [turn.user for turn in first.turns] == [
        "How much is in checking?", "And what did coffee cost me last month?"]
    assert first.turns[0].expect is None
    (expected,) = first.turns[1].expect.calls
    assert expected.name == "spending_breakdown"
    assert expected.args["category"].any_of == ("Coffee",)
    assert "I meant the month before" in first.description
    assert "You spent €61.20 on coffee." in first.description
    assert second.user == "bob" and [t.user for t in second.turns] == ["hello"]


def test_missing_ledger_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(eval_command, ["export-feedback", "--db",
                                               str(tmp_path / "nope.db"), "--out",
                                               str(tmp_path / "x.yaml")])
    assert result.exit_code == 2 and "no ledger at" in result.output
