"""The consent lifecycle over real HTTP on PostgreSQL: an advisor reads a customer's
transactions under consent, is refused on the request after the revocation, and the customer
reads both in their audit log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from access_support import ToolCaller
from fastapi.testclient import TestClient

from ledger.auth import create_token
from ledger.consent import set_role
from ledger.db import create_schema, make_engine, session_factory
from ledger.policy import Role
from ledger.users import create_user
from server import ServerSettings, create_app


@pytest.fixture
def pg_app(pg_url: str) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    engine = make_engine(pg_url)
    create_schema(engine)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        ana, ada = create_user(session, "ana").id, create_user(session, "ada").id
        set_role(session, ada, Role.ADVISOR)
    headers = {"ana": {"Authorization": f"Bearer {create_token(sessions, ana)}"},
               "ada": {"Authorization": f"Bearer {create_token(sessions, ada)}",
                       "X-Finchat-Customer": str(ana)}}
    engine.dispose()
    settings = ServerSettings(database_url=pg_url, profile_cache_seconds=0)
    with TestClient(create_app(settings, model=ToolCaller())) as client:
        yield client, headers


def _ask(client: TestClient, headers: dict[str, str]) -> Any:
    return client.post("/v1/chat/completions", headers=headers, json={
        "model": "finchat", "messages": [{"role": "user", "content": "call list_transactions"}]})


def test_consent_lifecycle_on_postgresql(pg_app: tuple[TestClient, dict[str, dict[str, str]]]
                                         ) -> None:
    client, headers = pg_app
    added = client.post("/api/transactions", headers=headers["ana"], json={
        "account": "Checking", "date": "2026-10-01", "amount": "-12.50", "payee": "Bakery"})
    assert added.status_code == 201, added.text
    assert _ask(client, headers["ada"]).status_code == 403
    granted = client.post("/api/consents", headers=headers["ana"],
                          json={"advisor": "ada", "scope": "transactions", "days": 7})
    assert granted.status_code == 201, granted.text
    answer = _ask(client, headers["ada"])
    rows = json.loads(answer.json()["choices"][0]["message"]["content"])["transactions"]
    assert [(r["payee"], r["amount"]) for r in rows] == [("Bakery", "-12.50")]
    revoked = client.delete(f"/api/consents/{granted.json()['id']}", headers=headers["ana"])
    assert revoked.status_code == 204
    refused = _ask(client, headers["ada"])
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "the customer revoked their consent"
    audit = client.get("/api/audit", headers=headers["ana"]).json()["data"]
    seen = [(e["action"], e["outcome"], e["detail"].get("via")) for e in audit
            if e["actor"] == "ada"]
    assert ("access.read_transactions", "allowed", "tool:list_transactions") in seen
    assert seen.count(("access.read_summary", "denied", "POST /v1/chat/completions")) == 2
