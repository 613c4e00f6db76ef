"""Tokens: stored hashed, resolved to their user, revocable; the HTTP layer answers 401 JSON."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from server_support import live_server
from sqlalchemy.orm import Session, sessionmaker

from assistant.backends.scripted import ScriptedModel
from ledger.auth import (
    TOKEN_PREFIX,
    AuthenticatedUser,
    UnknownUserError,
    create_token,
    resolve_token,
    revoke_labelled,
    revoke_token,
)
from ledger.db import create_schema, make_engine, session_factory
from ledger.users import create_user
from server import ServerSettings, create_app


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(str(tmp_path / "auth.db"))
    create_schema(engine)
    factory = session_factory(engine)
    with factory.begin() as session:
        create_user(session, "ana")
        create_user(session, "ben")
    yield factory
    engine.dispose()


def _user_id(sessions: sessionmaker[Session], name: str) -> int:
    from ledger.users import get_user_by_name

    with sessions() as session:
        user = get_user_by_name(session, name)
        assert user is not None
        return user.id


def test_a_token_resolves_to_its_user_and_only_its_hash_is_stored(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    ana, ben = _user_id(sessions, "ana"), _user_id(sessions, "ben")
    token_ana = create_token(sessions, ana, label="laptop")
    token_ben = create_token(sessions, ben)

    assert token_ana.startswith(TOKEN_PREFIX) and token_ana != token_ben
    assert resolve_token(sessions, token_ana) == AuthenticatedUser(id=ana, name="ana")
    assert resolve_token(sessions, token_ben) == AuthenticatedUser(id=ben, name="ben")
    with sqlite3.connect(tmp_path / "auth.db") as conn:
        stored = [row[0] for row in conn.execute("SELECT token_sha256 FROM api_tokens")]
        dump = "\n".join(conn.iterdump())
    assert sorted(stored) == sorted(
        hashlib.sha256(t.encode()).hexdigest() for t in (token_ana, token_ben)
    )
    assert token_ana not in dump and token_ben not in dump


@pytest.mark.parametrize("candidate", ["", "fc_unknown", "x" * 5000])
def test_unknown_tokens_resolve_to_nobody(sessions: sessionmaker[Session], candidate: str
                                          ) -> None:
    create_token(sessions, _user_id(sessions, "ana"))
    assert resolve_token(sessions, candidate) is None


def test_a_revoked_token_stops_working_and_others_keep_working(
    sessions: sessionmaker[Session],
) -> None:
    ana = _user_id(sessions, "ana")
    first, second = create_token(sessions, ana), create_token(sessions, ana)

    assert revoke_token(sessions, first) is True
    assert revoke_token(sessions, first) is False  # already revoked
    assert resolve_token(sessions, first) is None
    assert resolve_token(sessions, second) is not None


def test_revoke_labelled_only_touches_that_users_tokens_with_that_label(
    sessions: sessionmaker[Session],
) -> None:
    ana, ben = _user_id(sessions, "ana"), _user_id(sessions, "ben")
    demo_ana = create_token(sessions, ana, label="demo")
    own_ana = create_token(sessions, ana, label="laptop")
    demo_ben = create_token(sessions, ben, label="demo")

    assert revoke_labelled(sessions, ana, "demo") == 1
    assert resolve_token(sessions, demo_ana) is None
    assert resolve_token(sessions, own_ana) is not None
    assert resolve_token(sessions, demo_ben) is not None


def test_a_token_for_a_missing_user_is_refused(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(UnknownUserError):
        create_token(sessions, 999)


# ---------------------------------------------------------------- over HTTP
PROTECTED = [
    ("GET", "/v1/models", None),
    ("POST", "/v1/chat/completions",
     {"model": "finchat", "messages": [{"role": "user", "content": "hi"}]}),
    ("GET", "/api/conversations", None),
    ("POST", "/api/conversations", {}),
    ("POST", "/api/messages/1/feedback", {"rating": "up"}),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """A server on an empty ledger with one user: (base URL, valid token, revoked token)."""
    db = tmp_path_factory.mktemp("auth") / "ledger.db"
    engine = make_engine(str(db))
    create_schema(engine)
    factory = session_factory(engine)
    with factory.begin() as session:
        user_id = create_user(session, "ana").id
    valid, revoked = create_token(factory, user_id), create_token(factory, user_id)
    revoke_token(factory, revoked)
    engine.dispose()
    app = create_app(ServerSettings(database_url=str(db)), model=ScriptedModel([]))
    with live_server(app) as live:
        yield live.base_url, valid, revoked


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Token abc", "Basic YW5hOnB3", "Bearer fc_not-a-real-token", "REVOKED"],
)
def test_requests_without_a_valid_token_get_401_json(
    server: tuple[str, str, str], method: str, path: str, body: object, authorization: str | None
) -> None:
    base, _valid, revoked = server
    headers = {}
    if authorization == "REVOKED":
        headers["Authorization"] = f"Bearer {revoked}"
    elif authorization is not None:
        headers["Authorization"] = authorization
    response = httpx.request(method, base + path, json=body, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    error = response.json()["error"]
    assert error["code"] == "invalid_api_key" and error["type"] == "invalid_request_error"
    assert set(error) == {"message", "type", "param", "code"}


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/", "/static/widget.js",
                                  "/static/widget.css", "/docs", "/openapi.json"])
def test_public_paths_need_no_token(server: tuple[str, str, str], path: str) -> None:
    assert httpx.get(server[0] + path).status_code == 200


def test_a_valid_token_is_accepted_with_any_scheme_case(server: tuple[str, str, str]) -> None:
    base, valid, _ = server
    response = httpx.get(base + "/v1/models", headers={"Authorization": f"bearer {valid}"})
    assert response.status_code == 200
    assert [m["id"] for m in response.json()["data"]] == ["finchat"]
