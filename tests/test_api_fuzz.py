"""API fuzzing with schemathesis: every operation in the OpenAPI document, with a valid API
token, a login session's token and an invalid token (on SQLite), and with the API token on
PostgreSQL, answers without a 5xx, and every 4xx in the error shape.

The app is the real one (``create_app``, the offline model, a copy of the demo ledger) called
in-process through schemathesis's ASGI transport; no network. Routes read their bodies by
hand, so the document does not describe them: operations without a documented body get one
here (the pydantic model the route validates with, OpenAI's request shape for chat, the
import form, else any JSON), so the fuzzer sends bodies, valid and invalid, everywhere; and
with a valid token about half the path ids are real rows of the caller's. Routes added later
are covered as they appear. Bounded and deterministic: a fixed number of examples per
operation, no example database, derandomized generation (``MAX_EXAMPLES``). The last tests
pin what fuzzing found, as plain requests.
"""

from __future__ import annotations

import copy
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from conftest import _private_schema
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from server_support import RecordingModel, demo_ledger, token_for
from sqlalchemy import text

from assistant.backends import make_model
from assistant.settings import Settings
from ledger.auth import create_token
from ledger.auth_settings import AuthSettings
from ledger.credentials import set_password
from ledger.db import make_engine, session_factory
from ledger.demo import build_demo
from ledger.users import get_user_by_name
from server import ServerSettings, create_app

MAX_EXAMPLES = 25
"""Fuzzed examples per operation and token (valid and invalid inputs mixed)."""
PASSWORD_CHECKED = r"^/auth/(token|password|totp/)"
"""Routes that hash a password on every request (tens of milliseconds each, by design)."""
PASSWORD_EXAMPLES = 10
PG_EXAMPLES = 10
"""The PostgreSQL run repeats the valid-token one with fewer examples (what differs there
is the database, and the coverage phase's boundary values run in full)."""
INVALID_TOKEN = "fc_not-a-real-token-0000000000000000"
QUESTION = "How much did I spend on groceries last month?"
PASSWORD = "fuzz-password-2026-long"

OPENAI_CHAT_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["model", "messages"],
    "properties": {
        "model": {"type": "string", "enum": ["finchat"]},
        "messages": {"type": "array", "minItems": 1, "maxItems": 3, "items": {
            "type": "object",
            "required": ["role", "content"],
            "properties": {
                "role": {"type": "string", "enum": ["system", "user", "assistant"]},
                "content": {"anyOf": [
                    {"type": "string", "minLength": 1, "maxLength": 200},
                    {"type": "array", "minItems": 1, "maxItems": 2, "items": {
                        "type": "object", "required": ["type", "text"],
                        "properties": {"type": {"type": "string", "enum": ["text"]},
                                       "text": {"type": "string", "maxLength": 100}}}},
                ]},
            },
        }},
        "stream": {"type": "boolean"},
        "stream_options": {"type": "object",
                           "properties": {"include_usage": {"type": "boolean"}}},
        "n": {"type": "integer"},
        "temperature": {"type": "number"},
        "max_tokens": {"type": "integer"},
        "stop": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "tool_choice": {"anyOf": [{"type": "string"}, {"type": "object"}]},
    },
}
"""The part of OpenAI's chat-completions request this server reads (negative generation
breaks it in every way the schema allows)."""

IMPORT_FORM: dict[str, Any] = {
    "type": "object",
    "required": ["file", "account"],
    "properties": {
        "file": {"type": "string", "format": "binary"},
        "account": {"type": "string", "enum": ["Checking", "Savings", "Nowhere"]},
        "skip_invalid": {"type": "string", "enum": ["true", "false", "maybe"]},
        "negate": {"type": "string"},
        "date_format": {"type": "string"},
        "map": {"type": "string"},
    },
}
"""The statement upload form of ``POST /api/imports``."""


def _body_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """JSON bodies the routes validate by hand, from the same pydantic models."""
    from server import ledger_api, widget_api

    models = {
        ("post", "/api/conversations"): widget_api.NewConversation,
        ("post", "/api/conversations/{conversation_id}/messages"): widget_api.NewMessage,
        ("post", "/api/messages/{message_id}/feedback"): widget_api.NewFeedback,
        ("post", "/api/transactions"): ledger_api.NewTransaction,
        ("patch", "/api/transactions/{transaction_id}"): ledger_api.TransactionChanges,
    }
    schemas = {key: model.model_json_schema() for key, model in models.items()}
    schemas["post", "/v1/chat/completions"] = OPENAI_CHAT_REQUEST
    return schemas


def with_bodies(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with a request body on every POST/PATCH/PUT that declares none."""
    document = copy.deepcopy(document)
    known = _body_schemas()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method not in ("post", "patch", "put") or "requestBody" in operation:
                continue
            if (method, path) == ("post", "/api/imports"):
                content = {"multipart/form-data": {"schema": IMPORT_FORM}}
            else:
                content = {"application/json": {"schema": known.get((method, path), {})}}
            operation["requestBody"] = {"content": content}
    return document


def _config() -> SchemathesisConfig:
    """Examples, coverage (boundary values) and fuzzing phases, derandomized, no database;
    routes that check a password (a deliberately slow hash) get fewer examples."""
    return SchemathesisConfig.from_dict({
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True,
                       "database": "none", "unique-inputs": True},
        "phases": {"stateful": {"enabled": False}},
        "operations": [{
            "include-path-regex": PASSWORD_CHECKED,
            "generation": {"max-examples": PASSWORD_EXAMPLES},
            "phases": {"coverage": {"enabled": False}},
        }],
    })


@dataclass(frozen=True)
class Target:
    """The app under test, alice's API token and a login session's access token, and real
    ids of hers for path parameters: ``ids[parameter][method]``."""

    app: FastAPI
    token: str
    session_token: str
    ids: dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """The app on a private demo ledger (rate limits off, so chat keeps being fuzzed),
    started once for the module, with a conversation that has a turn in it."""
    ledger = demo_ledger(tmp_path_factory.mktemp("fuzz"))
    yield from _started(str(ledger), token_for(ledger, "alice"))


@pytest.fixture(scope="module")
def pg_target() -> Iterator[Target]:
    """The same on PostgreSQL (a private schema; skipped with the reason when unreachable):
    its integer columns and text refuse values SQLite stores."""
    with _private_schema() as url:
        build_demo(url)
        engine = make_engine(url)
        try:
            sessions = session_factory(engine)
            with sessions() as session:
                alice = get_user_by_name(session, "alice")
                assert alice is not None
                user_id = alice.id
            token = create_token(sessions, user_id, label="fuzz")
        finally:
            engine.dispose()
        yield from _started(url, token)


def _started(url: str, token: str) -> Iterator[Target]:
    app = create_app(_settings(url), model=make_model(Settings()))
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        yield Target(app, token, _signed_in(client, app), _real_ids(client, app))


def _signed_in(client: TestClient, app: FastAPI) -> str:
    """An access token from a password login (the routes that manage credentials take no
    API key)."""
    sessions = app.state.runtime.sessions
    with sessions() as session:
        alice = get_user_by_name(session, "alice")
        assert alice is not None
        user_id = alice.id
    set_password(sessions, user_id, PASSWORD, settings=AuthSettings())
    signed_in = client.post("/auth/token", data={"username": "alice", "password": PASSWORD})
    assert signed_in.status_code == 200, signed_in.text
    return signed_in.json()["access_token"]


def _real_ids(client: TestClient, app: FastAPI) -> dict[str, dict[str, Any]]:
    """One conversation (with a turn, so an answer to rate) to read and write, another to
    delete; one transaction to change, another to delete."""
    kept, doomed = (client.post("/api/conversations", json={}).json()["id"] for _ in "ab")
    turn = client.post(f"/api/conversations/{kept}/messages", json={"content": QUESTION})
    done = next(line for line in turn.text.splitlines() if '"message_id"' in line)
    answer = json.loads(done.removeprefix("data:"))["message_id"]
    with app.state.runtime.engine.connect() as conn:
        changed, deleted = (row[0] for row in conn.execute(text(
            "SELECT t.id FROM transactions t JOIN users u ON u.id = t.user_id "
            "WHERE u.name = 'alice' ORDER BY t.id LIMIT 2")))
    return {"conversation_id": {"get": kept, "post": kept, "delete": doomed},
            "message_id": {"post": answer},
            "transaction_id": {"patch": changed, "delete": deleted}}


def _settings(database_url: str) -> ServerSettings:
    return ServerSettings(database_url=database_url, rate_limit_chat_per_token="",
                          rate_limit_chat_per_ip="", rate_limit_login_per_ip="")


schema = schemathesis.openapi.from_dict(
    with_bodies(create_app(_settings("sqlite://")).openapi()), config=_config())
"""The operations, read at collection from an app that is built but never started (the
document does not depend on the ledger); each case is sent to ``target``'s app."""


def _aim(case: Any, ids: dict[str, dict[str, Any]]) -> None:
    """Point about half of the cases at real rows of the caller's (chosen by a checksum of
    the generated value, so a run repeats), so bodies reach the code behind the lookup."""
    for name, value in (case.path_parameters or {}).items():
        real = ids.get(name, {}).get(case.method.lower())
        if real is not None and zlib.crc32(repr(value).encode()) % 2 == 0:
            case.path_parameters[name] = real


def _call(case: Any, app: FastAPI, token: str) -> None:
    """One request: never a 5xx, no stream that fails with an internal error, and a 4xx
    always ``{"error": {message, type, param, code}}`` (what every client parses)."""
    response = case.call(app=app, headers={"Authorization": f"Bearer {token}"})
    case.validate_response(response, checks=[not_a_server_error])
    if response.headers.get("content-type", [""])[0].startswith("text/event-stream"):
        assert "internal_error" not in response.text, response.text
    if 400 <= response.status_code < 500:
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}, response.text
        assert isinstance(error["message"], str) and error["message"]


@schema.parametrize()
def test_valid_token_never_gets_a_server_error(case: Any, target: Target) -> None:
    _aim(case, target.ids)
    _call(case, target.app, target.token)


@schema.parametrize()
def test_login_session_never_gets_a_server_error(case: Any, target: Target) -> None:
    _aim(case, target.ids)
    _call(case, target.app, target.session_token)


@schema.parametrize()
@settings(max_examples=PG_EXAMPLES)
def test_valid_token_on_postgresql_never_gets_a_server_error(case: Any,
                                                             pg_target: Target) -> None:
    _aim(case, pg_target.ids)
    _call(case, pg_target.app, pg_target.token)


@schema.parametrize()
def test_invalid_token_never_gets_a_server_error(case: Any, target: Target) -> None:
    _call(case, target.app, INVALID_TOKEN)


# ---------------------------------------------------------------- found by fuzzing
JSON_ROUTES = ("/v1/chat/completions", "/api/conversations", "/api/transactions",
               "/auth/refresh")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """A fresh app (the fuzzed one may have had its token revoked by the fuzzer)."""
    ledger = demo_ledger(tmp_path_factory.mktemp("found"))
    app = create_app(_settings(str(ledger)), model=RecordingModel())
    token = token_for(ledger, "alice")
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as opened:
        yield opened


@pytest.mark.parametrize("path", JSON_ROUTES)
def test_json_nested_past_the_parsers_depth_is_a_400(client: TestClient, path: str) -> None:
    """``json.loads`` raises ``RecursionError`` (not a ``ValueError``) on deep nesting."""
    response = client.post(path, content="[" * 100_000 + "]" * 100_000,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_json"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(client: TestClient, constant: str) -> None:
    body = ('{"model": "finchat", "messages": [{"role": "user", "content": "Hi"}], '
            f'"temperature": {constant}}}')
    response = client.post("/v1/chat/completions", content=body,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_json"


@pytest.mark.parametrize("path", JSON_ROUTES)
def test_a_nul_character_in_a_json_string_is_a_400_naming_the_field(
    client: TestClient, path: str
) -> None:
    """PostgreSQL refuses U+0000 in text: refused at parsing, on every backend alike."""
    body = {"title": "ok", "messages": [{"role": "user", "content": "a\u0000b"}]}
    response = client.post(path, json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("invalid_value", "messages.0.content")


@pytest.mark.parametrize("request_line", [
    ("POST", "/api/messages/9259564715541331964/feedback"),
    ("POST", "/api/messages/2147483648/feedback"),
    ("GET", "/api/conversations/a%00b"),
    ("DELETE", "/api/conversations/a%00b"),
    ("POST", "/api/conversations/a%00b/messages"),
])
def test_ids_no_row_can_have_are_a_400_on_postgresql_too(
    pg_target: Target, request_line: tuple[str, str]
) -> None:
    """Found by the fuzzer and by hand: an id beyond PostgreSQL's INTEGER, or text with a
    NUL, made the database raise (500); the path types refuse them first."""
    method, path = request_line
    with TestClient(pg_target.app, headers={"Authorization": f"Bearer {pg_target.token}"}) as c:
        response = c.request(method, path, json={"rating": 1, "content": "hi"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"
