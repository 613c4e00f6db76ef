"""``finchat serve``, ``users add`` and ``tokens create|revoke`` through click's runner."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from click.testing import CliRunner
from server_support import RecordingModel, demo_ledger, live_server

from cli.serve import serve, tokens, users
from ledger.auth import resolve_token
from ledger.db import make_engine, session_factory
from server import ServerSettings, create_app

TOKEN = re.compile(r"fc_[A-Za-z0-9_-]{20,}")


def _resolve(db: Path, token: str) -> str | None:
    engine = make_engine(str(db))
    try:
        user = resolve_token(session_factory(engine), token)
        return None if user is None else user.name
    finally:
        engine.dispose()


def test_users_and_tokens_from_the_command_line(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    runner = CliRunner()

    added = runner.invoke(users, ["add", "dora", "--currency", "GBP", "--db", str(db)])
    again = runner.invoke(users, ["add", "dora", "--db", str(db)])
    created = runner.invoke(tokens, ["create", "dora", "--label", "laptop", "--db", str(db)])
    missing = runner.invoke(tokens, ["create", "nobody", "--db", str(db)])

    assert added.exit_code == 0 and "Created user 'dora'" in added.output
    assert again.exit_code == 1 and "already exists" in again.output
    assert created.exit_code == 0
    token = created.stdout.strip()
    assert TOKEN.fullmatch(token) and _resolve(db, token) == "dora"
    assert missing.exit_code == 1 and "no user named 'nobody'" in missing.output

    revoked = runner.invoke(tokens, ["revoke", token, "--db", str(db)])
    twice = runner.invoke(tokens, ["revoke", token, "--db", str(db)])
    assert revoked.exit_code == 0 and _resolve(db, token) is None
    assert twice.exit_code == 1


@pytest.fixture
def captured_run(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Replaces ``uvicorn.run``: the command's app and options are recorded, not served."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append(
        {"app": app, **options}))
    return calls


def test_serve_demo_builds_the_ledger_and_prints_working_tokens(
    tmp_path: Path, captured_run: list[dict[str, Any]]
) -> None:
    db = demo_ledger(tmp_path)  # prebuilt: building it is the demo's own test
    runner = CliRunner()

    first = runner.invoke(serve, ["--demo", "--db", str(db), "--port", "8123"])

    assert first.exit_code == 0, first.output
    first_tokens = TOKEN.findall(first.output)
    names = [_resolve(db, t) for t in dict.fromkeys(first_tokens)]
    assert names == ["alice", "bob"]
    assert "curl -N http://127.0.0.1:8123/v1/chat/completions" in first.output
    assert f"Authorization: Bearer {first_tokens[0]}" in first.output

    # a restart issues fresh tokens and revokes the ones printed before
    second = runner.invoke(serve, ["--demo", "--db", str(db), "--port", "8123"])
    second_tokens = list(dict.fromkeys(TOKEN.findall(second.output)))
    assert [_resolve(db, t) for t in second_tokens] == ["alice", "bob"]
    assert all(_resolve(db, t) is None for t in first_tokens)

    call = captured_run[-1]
    assert (call["host"], call["port"]) == ("127.0.0.1", 8123)
    assert call["app"].state.runtime.page_token == second_tokens[0]


def test_serve_demo_creates_a_missing_ledger(
    tmp_path: Path, captured_run: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(serve, ["--demo"])

    assert result.exit_code == 0, result.output
    assert "Built a demo ledger in finchat-demo.db" in result.output
    assert (tmp_path / "finchat-demo.db").exists()
    assert captured_run[-1]["app"].state.runtime.page_token is not None


def test_serve_without_demo_needs_a_ledger_and_gives_the_page_no_token(
    tmp_path: Path, captured_run: list[dict[str, Any]]
) -> None:
    missing = CliRunner().invoke(serve, ["--db", str(tmp_path / "nope.db")])
    assert missing.exit_code == 1 and "no ledger at" in missing.output

    db = demo_ledger(tmp_path)
    started = CliRunner().invoke(serve, ["--db", str(db)])
    assert started.exit_code == 0 and not TOKEN.search(started.output)
    assert captured_run[-1]["app"].state.runtime.page_token is None


def test_a_demo_on_a_public_interface_warns(tmp_path: Path,
                                            captured_run: list[dict[str, Any]]) -> None:
    db = demo_ledger(tmp_path)
    result = CliRunner().invoke(serve, ["--demo", "--db", str(db), "--host", "0.0.0.0"])
    assert result.exit_code == 0
    assert "Warning: the demo page hands its token to anyone" in result.output


def test_the_demo_page_carries_the_token_only_in_demo_mode(tmp_path: Path) -> None:
    db = demo_ledger(tmp_path)
    settings = ServerSettings(database_url=str(db))
    for page_token in ("fc_demo-token", None):
        app = create_app(settings, model=RecordingModel(), demo_page_token=page_token)
        with live_server(app) as server:
            page = httpx.get(server.base_url + "/")
        assert page.status_code == 200
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert ('data-token="fc_demo-token"' in page.text) is (page_token is not None)
        assert 'src="/static/widget.js"' in page.text
