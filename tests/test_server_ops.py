"""Operations: health and readiness, request ids, JSON logs with timings, CORS, error shape."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from server_support import RecordingModel, demo_ledger, live_server, token_for

from assistant.backends.scripted import ScriptedModel
from assistant.messages import Message, ToolCall, Usage
from assistant.model import ModelResponse
from server import JsonFormatter, ServerSettings, create_app
from tools.base import ToolContext


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_ledger(tmp_path_factory.mktemp("ops"))


@pytest.fixture(scope="module")
def base(ledger: Path) -> Iterator[str]:
    settings = ServerSettings(database_url=str(ledger), cors_origins=["https://shop.example"])
    with live_server(create_app(settings, model=RecordingModel())) as server:
        yield server.base_url


def test_health_and_readiness(base: str) -> None:
    assert httpx.get(base + "/healthz").json() == {"status": "ok"}
    assert httpx.get(base + "/readyz").json() == {"status": "ready"}


def test_readiness_fails_while_the_database_is_unreachable(tmp_path: Path) -> None:
    settings = ServerSettings(database_url=str(tmp_path / "no-such-dir" / "ledger.db"))
    with live_server(create_app(settings, model=RecordingModel())) as server:
        health = httpx.get(server.base_url + "/healthz")
        ready = httpx.get(server.base_url + "/readyz")
    assert health.status_code == 200
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "reason": "database unreachable"}


def test_every_response_carries_a_request_id(base: str) -> None:
    generated = httpx.get(base + "/healthz").headers["x-request-id"]
    echoed = httpx.get(base + "/healthz", headers={"X-Request-ID": "trace-42.a_b"})
    replaced = httpx.get(base + "/healthz", headers={"X-Request-ID": "bad id\twith spaces"})

    assert len(generated) == 32 and int(generated, 16) >= 0
    assert echoed.headers["x-request-id"] == "trace-42.a_b"
    assert replaced.headers["x-request-id"] != "bad id\twith spaces"
    assert echoed.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(("method", "path", "status"),
                         [("GET", "/nope", 404), ("DELETE", "/v1/models", 405)])
def test_routing_errors_have_the_error_shape(base: str, method: str, path: str,
                                             status: int) -> None:
    response = httpx.request(method, base + path)
    assert response.status_code == status
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_cors_allows_only_the_configured_origins(base: str) -> None:
    def preflight(origin: str) -> httpx.Response:
        return httpx.options(base + "/api/conversations", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type"})

    allowed, other = preflight("https://shop.example"), preflight("https://evil.example")
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-origin" not in other.headers
    simple = httpx.get(base + "/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


def test_cors_origins_come_from_a_comma_separated_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FINCHAT_CORS_ORIGINS", "https://a.example, https://b.example,")
    assert ServerSettings().cors_origins == ["https://a.example", "https://b.example"]


def test_the_widget_files_are_served(base: str) -> None:
    script = httpx.get(base + "/static/widget.js")
    style = httpx.get(base + "/static/widget.css")
    assert script.headers["content-type"].startswith(("text/javascript",
                                                      "application/javascript"))
    assert "attachShadow" in script.text and ".fc-bubble" in style.text
    assert httpx.get(base + "/static/compact.py").status_code == 404


def test_logs_are_json_lines_with_request_user_tools_and_tokens(ledger: Path) -> None:
    call = ToolCall(id="call_1", name="spending_breakdown",
                    arguments={"start_date": "2026-09-01", "end_date": "2026-09-30"})
    model = ScriptedModel([
        Message(role="assistant", tool_calls=[call]),
        ModelResponse(message=Message(role="assistant", content="Done."),
                      usage=Usage(prompt_tokens=120, completion_tokens=9)),
    ])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("finchat")
    logger.addHandler(handler)
    token = token_for(ledger, "alice")
    try:
        app = create_app(ServerSettings(database_url=str(ledger)), model=model)
        with live_server(app) as server:
            response = httpx.post(
                server.base_url + "/v1/chat/completions", timeout=30,
                headers={"Authorization": f"Bearer {token}"},
                json={"model": "finchat", "messages": [{"role": "user", "content": "spend?"}]},
            )
    finally:
        logger.removeHandler(handler)

    assert response.status_code == 200
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    request_id = response.headers["x-request-id"]
    turn = next(line for line in lines if line["message"] == "turn")
    request = next(line for line in lines
                   if line["message"] == "request" and line["request_id"] == request_id)
    assert turn["request_id"] == request_id and turn["user_id"] == request["user_id"] == 1
    assert [t["name"] for t in turn["tools"]] == ["spending_breakdown"]
    assert turn["tools"][0]["ok"] is True and turn["tools"][0]["duration_ms"] > 0
    assert (turn["prompt_tokens"], turn["completion_tokens"], turn["steps"]) == (120, 9, 2)
    assert request["status"] == 200 and request["path"] == "/v1/chat/completions"
    assert request["duration_ms"] > 0


def test_startup_indexes_products_under_the_key_product_lookup_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import knowledge
    from tools.products import _ledger_url

    warmed: list[str | None] = []
    monkeypatch.setattr(knowledge, "default_retriever", warmed.append)
    settings = ServerSettings(database_url=str(tmp_path / "ledger.db"), warm_knowledge=True)
    app = create_app(settings, model=RecordingModel())
    with live_server(app) as server:
        assert httpx.get(server.base_url + "/healthz").status_code == 200
        for _ in range(100):
            if warmed:
                break
            time.sleep(0.05)
    runtime = app.state.runtime
    ctx = ToolContext(sessions=runtime.sessions, user_id=1, today=dt.date(2026, 1, 1))
    assert warmed == [_ledger_url(ctx)]
