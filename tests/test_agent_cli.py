"""``finchat ask``, ``chat`` and ``tools`` through click's runner, on a small real ledger.

The model is either a script file (``--model scripted:<file>``) or the fake OpenAI-compatible
server, which records the system prompt and tool schemas the CLI really sent.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from fake_openai_server import FakeCall, FakeOpenAIServer, Reply, Status
from sqlalchemy import text

from cli.chat import ask_command, chat_command, tools_command
from ledger.db import create_schema, make_engine, session_factory
from ledger.models import Account, Transaction
from ledger.users import create_user
from tools import default_registry

ANA_TODAY = dt.date(2024, 5, 10)
ANA_CHECKING = Decimal("2000.00") - Decimal("45.50")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("FINCHAT_", "OPENAI_")):
            monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ana (first user): a salary and a grocery bill; Bob: one later transaction."""
    path = tmp_path_factory.mktemp("cli") / "ledger.db"
    engine = make_engine(str(path))
    create_schema(engine)
    with session_factory(engine)() as session:
        for name, rows in [
            (
                "ana",
                [(dt.date(2024, 5, 1), "2000.00", "Employer"), (ANA_TODAY, "-45.50", "Grocer")],
            ),
            ("bob", [(dt.date(2024, 6, 30), "-10.00", "Kiosk")]),
        ]:
            user = create_user(session, name, opened_on=dt.date(2024, 1, 1))
            session.flush()
            account = session.query(Account).filter_by(user_id=user.id).one()
            account.name = f"{name.title()} Checking"
            for day, amount, payee in rows:
                session.add(
                    Transaction(
                        user_id=user.id,
                        account_id=account.id,
                        date=day,
                        amount=Decimal(amount),
                        currency="EUR",
                        payee=payee,
                    )
                )
        session.commit()
    engine.dispose()
    return path


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as running:
        yield running


@pytest.fixture
def fake(server: FakeOpenAIServer) -> FakeOpenAIServer:
    server.reset()
    return server


def invoke(command: Any, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(command, list(args), input=stdin, catch_exceptions=False)


def openai_flags(fake: FakeOpenAIServer) -> list[str]:
    return ["--model", "openai:fake", "--base-url", fake.base_url]


def script(tmp_path: Path, *steps: dict[str, Any]) -> str:
    path = tmp_path / "script.json"
    path.write_text(json.dumps(list(steps)))
    return f"scripted:{path}"


def system_prompt(body: dict[str, Any]) -> str:
    assert body["messages"][0]["role"] == "system"
    return body["messages"][0]["content"]


def test_ask_json_reports_the_answer_and_each_tool_call(ledger: Path, tmp_path: Path) -> None:
    model = script(
        tmp_path,
        {
            "tool_calls": [
                {"id": "c1", "name": "get_balance", "arguments": {"account": "Ana Checking"}}
            ]
        },
        {"content": "Ana Checking holds 1954.50 EUR."},
    )
    result = invoke(
        ask_command, "What is my balance?", "--db", str(ledger), "--model", model, "--json"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["answer"] == "Ana Checking holds 1954.50 EUR."
    (call,) = data["tool_calls"]
    assert call["name"] == "get_balance" and call["arguments"] == {"account": "Ana Checking"}
    (account,) = call["result"]["accounts"]
    assert Decimal(account["balance"]) == ANA_CHECKING


def test_ask_prints_the_answer(ledger: Path, tmp_path: Path) -> None:
    model = script(tmp_path, {"content": "Hello."})
    result = invoke(ask_command, "hi", "--db", str(ledger), "--model", model)
    assert result.exit_code == 0 and result.stdout == "Hello.\n"


def test_default_user_is_the_first_and_sees_only_their_names(
    ledger: Path, fake: FakeOpenAIServer
) -> None:
    fake.enqueue(Reply(text="ok"))
    result = invoke(ask_command, "hi", "--db", str(ledger), *openai_flags(fake))
    assert result.exit_code == 0, result.output
    body = fake.requests[0]
    prompt = system_prompt(body)
    assert "finance assistant of ana" in prompt
    assert f"Today is {ANA_TODAY.isoformat()}." in prompt  # her last transaction, not Bob's
    assert "Bob" not in json.dumps(body)


def test_user_and_today_flags(ledger: Path, fake: FakeOpenAIServer) -> None:
    fake.enqueue(Reply(text="ok"))
    result = invoke(
        ask_command,
        "hi",
        "--db",
        str(ledger),
        "--user",
        "bob",
        "--today",
        "2024-07-15",
        *openai_flags(fake),
    )
    assert result.exit_code == 0, result.output
    prompt = system_prompt(fake.requests[0])
    assert "finance assistant of bob" in prompt and "Today is 2024-07-15." in prompt
    assert "Ana" not in json.dumps(fake.requests[0])


def test_settings_come_from_the_environment(
    ledger: Path, fake: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINCHAT_DATABASE_URL", str(ledger))
    monkeypatch.setenv("FINCHAT_MODEL", "openai:from-env")
    monkeypatch.setenv("FINCHAT_BASE_URL", fake.base_url)
    monkeypatch.setenv("FINCHAT_TODAY", "2024-05-05")
    fake.enqueue(Reply(text="ok"))
    result = invoke(ask_command, "hi", "--today", "2024-05-06")
    assert result.exit_code == 0, result.output
    assert fake.requests[0]["model"] == "from-env"
    assert "Today is 2024-05-06." in system_prompt(fake.requests[0])  # the flag wins


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--today", "2024-13-01"], "--today: '2024-13-01' is not a date (use YYYY-MM-DD)"),
        (["--user", "zoe"], "no user named 'zoe' in this ledger"),
        (["--model", "gpt-4"], "unknown model 'gpt-4'"),
        (
            ["--model", "openai:m", "--base-url", "http://127.0.0.1:9/v1"],
            "Could not reach the model server at http://127.0.0.1:9/v1",
        ),
    ],
)
def test_errors_are_one_line_and_exit_non_zero(
    ledger: Path, args: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINCHAT_MAX_RETRIES", "0")
    result = invoke(ask_command, "hi", "--db", str(ledger), *args)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1


def test_missing_ledger_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    result = invoke(ask_command, "hi", "--db", str(missing))
    assert result.exit_code == 1 and f"no ledger at {missing}" in result.stderr
    assert not missing.exists()


def test_a_file_that_is_not_a_ledger(tmp_path: Path) -> None:
    other = tmp_path / "notes.db"
    other.write_text("not a database")
    result = invoke(ask_command, "hi", "--db", str(other))
    assert result.exit_code == 1 and "cannot read a finchat ledger" in result.stderr


def test_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINCHAT_MAX_STEPS", "many")
    result = invoke(ask_command, "hi")
    assert result.exit_code == 1 and "FINCHAT_MAX_STEPS" in result.stderr


def test_chat_streams_shows_tools_and_keeps_history(ledger: Path, fake: FakeOpenAIServer) -> None:
    fake.enqueue(
        Reply(text="Hi Ana."),
        Reply(tool_calls=[FakeCall("get_balance", {"account": "Ana Checking"}, id="b1")]),
        Reply(text="Ana Checking holds 1954.50 EUR."),
    )
    result = invoke(
        chat_command,
        "--db",
        str(ledger),
        *openai_flags(fake),
        stdin="hello\n\nmy balance?\nexit\nnever sent\n",
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "finchat> Hi Ana." in out
    assert '-> get_balance {"account": "Ana Checking"}' in out
    assert "<- get_balance ok" in out
    assert "finchat> Ana Checking holds 1954.50 EUR." in out
    assert len(fake.requests) == 3
    second_turn = [(m["role"], m.get("content")) for m in fake.requests[1]["messages"][1:]]
    assert second_turn == [("user", "hello"), ("assistant", "Hi Ana."), ("user", "my balance?")]
    tool_message = fake.requests[2]["messages"][-1]
    balance = json.loads(tool_message["content"])["accounts"][0]["balance"]
    assert Decimal(balance) == ANA_CHECKING


def test_chat_reports_a_failed_turn_and_goes_on(ledger: Path, fake: FakeOpenAIServer) -> None:
    fake.enqueue(Status(401, "bad key"), Reply(text="Back again."))
    result = invoke(chat_command, "--db", str(ledger), *openai_flags(fake), stdin="first\nsecond\n")
    assert result.exit_code == 0
    assert "error: The model server at" in result.stdout and "HTTP 401" in result.stdout
    assert "finchat> Back again." in result.stdout
    # the failed turn is not part of the history
    sent = [(m["role"], m.get("content")) for m in fake.requests[1]["messages"][1:]]
    assert sent == [("user", "second")]


def test_chat_ends_on_end_of_input(ledger: Path, tmp_path: Path) -> None:
    result = invoke(chat_command, "--db", str(ledger), "--model", script(tmp_path), stdin="")
    assert result.exit_code == 0 and "Type 'exit' to leave." in result.stdout


def test_tools_json_lists_every_registered_schema() -> None:
    result = invoke(tools_command, "--json")
    assert result.exit_code == 0
    schemas = json.loads(result.stdout)
    assert [s["function"]["name"] for s in schemas] == default_registry().names()
    assert all(s["function"]["parameters"]["type"] == "object" for s in schemas)


def test_tools_lists_names_and_parameters() -> None:
    result = invoke(tools_command)
    assert result.exit_code == 0
    for tool in default_registry():
        assert f"\n{tool.name}\n" in f"\n{result.stdout}"
    assert "start_date: string (date), required" in result.stdout


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("FINCHAT_PROMPT_VERSION", "v0", "unknown prompt version 'v0'"),
        ("FINCHAT_MAX_STEPS", "0", "FINCHAT_MAX_STEPS must be at least 1"),
    ],
)
def test_settings_a_turn_would_reject_are_caught_up_front(
    ledger: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    result = invoke(ask_command, "hi", "--db", str(ledger))
    assert result.exit_code == 1 and message in result.stderr


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://me:s3cret@host:notaport/db", "invalid database URL"),
        ("nosuchdb://me:s3cret@host/db", "invalid database URL"),
        (
            "postgresql+psycopg://me:s3cret@127.0.0.1:9/db",
            "cannot read a finchat ledger at postgresql+psycopg://me:***@127.0.0.1:9/db",
        ),
    ],
)
def test_database_url_errors_never_show_the_password(url: str, message: str) -> None:
    result = invoke(ask_command, "hi", "--db", url)
    assert result.exit_code == 1 and message in result.stderr
    assert "s3cret" not in result.stderr and result.stderr.count("\n") == 1


def test_ask_with_the_default_offline_model_on_the_demo_ledger(demo_db_path: Path) -> None:
    """No --model: the factory's default backend answers from the real tools."""
    result = invoke(ask_command, "What is my total balance?", "--db", str(demo_db_path), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    (call,) = [c for c in data["tool_calls"] if c["name"] == "get_balance"]
    engine = make_engine(str(demo_db_path))
    with engine.connect() as conn:
        first_user = conn.execute(text("SELECT min(id) FROM users")).scalar_one()
        rows = conn.execute(
            text(
                "SELECT a.name, a.opening_balance + coalesce(sum(t.amount), 0) FROM accounts a "
                "LEFT JOIN transactions t ON t.account_id = a.id AND t.date <= :day "
                "WHERE a.user_id = :user GROUP BY a.id, a.name, a.opening_balance"
            ),
            {"day": call["result"]["as_of"], "user": first_user},
        ).all()
    engine.dispose()
    expected = {name: Decimal(cents) / 100 for name, cents in rows}
    got = {a["account"]: Decimal(a["balance"]) for a in call["result"]["accounts"]}
    assert got == expected
    assert data["answer"]
