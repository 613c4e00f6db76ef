"""Roles and consent enforced by the server, over real HTTP on a real SQLite ledger.

Two applications share one demo ledger: the default offline model, and ``ToolCaller``, a
model that calls whatever tool the question names (offered or not) and answers with the
tool's raw result, so a test reads exactly what a tool returned: data or a refusal. Users:
the demo's alice and bob (customers), adele (an advisor) and root (an administrator).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from access_support import ToolCaller
from fastapi.testclient import TestClient
from server_support import demo_ledger

from ledger.auth import create_token
from ledger.consent import grant, set_role
from ledger.db import create_schema, make_engine, session_factory
from ledger.policy import Role, Scope
from ledger.users import create_user, get_user_by_name
from server import ServerSettings, create_app

HEADER = "X-Finchat-Customer"


@dataclass
class World:
    db: Path
    ids: dict[str, int]
    tokens: dict[str, str]
    tools: TestClient
    """The app whose model is ``ToolCaller``."""
    caller: ToolCaller
    offline: TestClient
    """The app with the default offline model."""

    def headers(self, user: str, customer: str | int | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"}
        if customer is not None:
            headers[HEADER] = str(self.ids.get(customer, customer))  # type: ignore[arg-type]
        return headers

    def ask(self, user: str, question: str, customer: str | int | None = None,
            *, offline: bool = False) -> Any:
        client = self.offline if offline else self.tools
        return client.post("/v1/chat/completions", headers=self.headers(user, customer),
                           json={"model": "finchat",
                                 "messages": [{"role": "user", "content": question}]})

    def tool_result(self, user: str, tool: str, customer: str | None = None) -> dict[str, Any]:
        response = self.ask(user, f"call {tool}", customer)
        assert response.status_code == 200, response.text
        return json.loads(response.json()["choices"][0]["message"]["content"])

    def grant(self, scope: str, **extra: Any) -> int:
        response = self.tools.post("/api/consents", headers=self.headers("alice"),
                                   json={"advisor": "adele", "scope": scope, **extra})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def audit(self, user: str) -> list[dict[str, Any]]:
        response = self.tools.get("/api/audit", headers=self.headers(user))
        assert response.status_code == 200, response.text
        return response.json()["data"]


def _settings(db: Path) -> ServerSettings:
    return ServerSettings(database_url=str(db), profile_cache_seconds=0,
                          rate_limit_chat_per_token="0", rate_limit_chat_per_ip="0")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    db = demo_ledger(tmp_path_factory.mktemp("access"))
    engine = make_engine(str(db))
    create_schema(engine)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        for name, role in (("adele", Role.ADVISOR), ("root", Role.ADMIN)):
            set_role(session, create_user(session, name).id, role)
    with sessions() as session:
        ids = {name: get_user_by_name(session, name).id  # type: ignore[union-attr]
               for name in ("alice", "bob", "adele", "root")}
    tokens = {name: create_token(sessions, user_id, label="test")
              for name, user_id in ids.items()}
    engine.dispose()
    caller = ToolCaller()
    with TestClient(create_app(_settings(db), model=caller)) as tools, \
            TestClient(create_app(_settings(db))) as offline:
        yield World(db, ids, tokens, tools, caller, offline)


def _error(response: Any) -> dict[str, Any]:
    return response.json()["error"]


def _rows(db: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, args).fetchall()


# ---------------------------------------------------------------- customers
def test_a_customer_reads_their_own_data(world: World) -> None:
    own = world.tool_result("alice", "list_transactions")
    assert own["transactions"], own
    payees = {p for (p,) in _rows(world.db, "SELECT payee FROM transactions WHERE user_id = ?",
                                  world.ids["alice"])}
    assert {row["payee"] for row in own["transactions"]} <= payees
    assert world.tool_result("alice", "list_transactions", customer="alice") == own


@pytest.mark.parametrize("target", ["bob", 987654])
def test_a_customer_naming_anyone_else_gets_the_same_403(world: World, target: Any) -> None:
    response = world.ask("alice", "call list_transactions", customer=target)
    assert response.status_code == 403
    assert _error(response) == {"message": "customers can only access their own data",
                                "type": "permission_error", "param": None, "code": "forbidden"}
    for path in ("/api/export", "/api/audit", "/api/imports"):
        refused = world.tools.get(path, headers=world.headers("alice", target))
        assert refused.status_code == 403 and _error(refused)["code"] == "forbidden"


def test_bad_customer_headers_are_400(world: World) -> None:
    for value in ("bob", "0", "-1", str(2**31)):
        response = world.tools.get("/api/audit",
                                   headers={**world.headers("alice"), HEADER: value})
        assert response.status_code == 400, value
        assert _error(response)["code"] == "invalid_value"


def test_the_widget_serves_only_ones_own_conversations(world: World) -> None:
    response = world.tools.get("/api/conversations", headers=world.headers("adele", "alice"))
    assert response.status_code == 400 and _error(response)["code"] == "own_data_only"
    assert world.tools.get("/api/conversations",
                           headers=world.headers("adele", "adele")).status_code == 200


# ---------------------------------------------------------------- advisors
def test_an_advisor_reads_exactly_what_the_consent_covers(world: World) -> None:
    refused = world.ask("adele", "call get_balance", customer="alice")
    assert refused.status_code == 403 and _error(refused)["message"] == \
        "no consent from this customer"

    summary = world.grant("summary", days=30)
    balance = world.tool_result("adele", "get_balance", customer="alice")
    assert balance == world.tool_result("alice", "get_balance")
    assert balance != world.tool_result("bob", "get_balance")

    failure = world.tool_result("adele", "list_transactions", customer="alice")
    assert failure["error"] == "forbidden" and "transactions" not in failure
    assert "does not cover read_transactions" in failure["message"]
    offered = {t["function"]["name"] for t in world.caller.requests[-2].tools}
    assert offered == {"get_balance", "spending_breakdown", "cash_flow", "budget_projection",
                       "product_lookup"}
    assert world.caller.requests[-2].profile.payees == []

    answer = world.ask("adele", "Show my latest transactions", customer="alice", offline=True)
    assert answer.status_code == 200
    assert "not available" in answer.json()["choices"][0]["message"]["content"]

    transactions = world.grant("transactions", days=30)
    rows = world.tool_result("adele", "list_transactions", customer="alice")
    assert world.caller.requests[-2].profile.payees
    assert len(world.caller.requests[-2].tools) == 7
    assert rows == world.tool_result("alice", "list_transactions")

    for grant_id in (summary, transactions):
        revoked = world.tools.delete(f"/api/consents/{grant_id}", headers=world.headers("alice"))
        assert revoked.status_code == 204
    after = world.ask("adele", "call get_balance", customer="alice")
    assert after.status_code == 403
    assert _error(after)["message"] == "the customer revoked their consent"
    again = world.tools.delete(f"/api/consents/{summary}", headers=world.headers("alice"))
    assert again.status_code == 404


def test_an_expired_grant_is_refused(world: World) -> None:
    engine = make_engine(str(world.db))
    past = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=10)
    with session_factory(engine).begin() as session:
        grant(session, customer_id=world.ids["bob"], advisor_id=world.ids["adele"],
              scope=Scope.TRANSACTIONS, expires_at=past + dt.timedelta(days=1), now=past)
    engine.dispose()
    response = world.ask("adele", "call get_balance", customer="bob")
    assert response.status_code == 403
    assert _error(response)["message"] == "the customer's consent has expired"


def test_an_advisor_never_writes_exports_or_manages_consent(world: World) -> None:
    world.grant("transactions", days=1)
    headers = world.headers("adele", "alice")
    before = _rows(world.db, "SELECT count(*) FROM transactions")
    attempts = [
        world.tools.post("/api/transactions", headers=headers,
                         json={"account": "Checking", "date": "2026-01-02", "amount": "-1.00",
                               "payee": "Advisor"}),
        world.tools.post("/api/imports", headers=headers, data={"account": "Checking"},
                         files={"file": ("a.csv", b"date,amount,payee\n")}),
        world.tools.delete("/api/transactions/1", headers=headers),
        world.tools.get("/api/export", headers=headers),
        world.tools.request("DELETE", "/api/account", headers=headers,
                            json={"confirm_user_id": world.ids["alice"]}),
        world.tools.post("/api/consents", headers=headers,
                         json={"advisor": "adele", "scope": "transactions", "days": 5}),
        world.tools.get("/api/audit", headers=headers),
    ]
    for response in attempts:
        assert response.status_code == 403, response.text
        assert "reserved to the customer" in _error(response)["message"]
    assert _rows(world.db, "SELECT count(*) FROM transactions") == before
    assert world.tools.get("/api/imports", headers=headers).status_code == 200


def test_the_customer_reads_every_access_in_their_audit_log(world: World) -> None:
    entries = world.audit("alice")
    by_adele = [e for e in entries if e["actor"] == "adele"]
    assert {e["actor_role"] for e in by_adele} == {"advisor"}
    seen = {(e["action"], e["outcome"], e["detail"].get("via")) for e in by_adele}
    assert ("access.read_summary", "denied", "POST /v1/chat/completions") in seen
    assert ("access.read_summary", "allowed", "POST /v1/chat/completions") in seen
    assert ("access.read_summary", "allowed", "tool:get_balance") in seen
    assert ("access.read_transactions", "denied", "tool:list_transactions") in seen
    assert ("access.read_transactions", "allowed", "tool:list_transactions") in seen
    assert ("access.write", "denied", "POST /api/transactions") in seen
    assert ("access.export", "denied", "GET /api/export") in seen
    own = {(e["action"], e["actor"]) for e in entries}
    assert {("consent.grant", "you"), ("consent.revoke", "you")} <= own
    bob_saw = world.audit("bob")
    assert any(e["actor"] == "alice" and e["outcome"] == "denied" for e in bob_saw)
    assert not any(e["actor"] == "adele" and e["detail"].get("via") == "tool:get_balance"
                   for e in bob_saw)


def test_consents_are_listed_to_both_sides(world: World) -> None:
    given = world.tools.get("/api/consents", headers=world.headers("alice")).json()
    received = world.tools.get("/api/consents", headers=world.headers("adele")).json()
    assert given["given"] and not given["received"]
    assert {g["id"] for g in given["given"]} <= {g["id"] for g in received["received"]}
    assert all(g["advisor"] == "adele" and g["customer"] == "alice" for g in given["given"])
    assert any(g["customer"] == "bob" and not g["active"] for g in received["received"])


@pytest.mark.parametrize("body", [
    {"advisor": "bob", "scope": "summary"},
    {"advisor": "nobody-by-that-name", "scope": "summary"},
    {"advisor_id": 987654, "scope": "summary"},
])
def test_consent_goes_only_to_advisors_and_reveals_no_one(world: World, body: Any) -> None:
    response = world.tools.post("/api/consents", headers=world.headers("alice"), json=body)
    assert response.status_code == 400
    assert _error(response)["message"] == "consent can only be given to an advisor"


def test_bad_consent_bodies_are_400(world: World) -> None:
    for body in ({"scope": "summary"}, {"advisor": "adele", "scope": "everything"},
                 {"advisor": "adele", "scope": "summary", "days": 400},
                 {"advisor": "adele", "scope": "summary", "expires_at": "2001-01-01T00:00:00"}):
        response = world.tools.post("/api/consents", headers=world.headers("alice"), json=body)
        assert response.status_code == 400, body


# ---------------------------------------------------------------- administrators
def test_an_admin_exports_but_never_chats_about_a_ledger(world: World) -> None:
    chat = world.ask("root", "call get_balance", customer="alice")
    assert chat.status_code == 403 and _error(chat)["message"] == "no consent from this customer"
    response = world.tools.get("/api/export?format=json", headers=world.headers("root", "alice"))
    assert response.status_code == 200
    document = response.json()
    exported = {row["id"] for row in document["tables"]["transactions"]}
    alice = {i for (i,) in _rows(world.db, "SELECT id FROM transactions WHERE user_id = ?",
                                 world.ids["alice"])}
    assert exported == alice and document["user_id"] == world.ids["alice"]
    assert {row["user_id"] for row in document["tables"]["accounts"]} == {world.ids["alice"]}
    assert "bob" not in json.dumps(document["tables"]["users"])
    audit = world.tools.get("/api/audit", headers=world.headers("root", "alice"))
    assert audit.status_code == 200
    assert any(e["action"] == "user.export" and e["actor"] == "root"
               for e in world.audit("alice"))


def test_csv_export_is_a_zip_of_tables(world: World) -> None:
    import io
    import zipfile

    response = world.tools.get("/api/export?format=csv", headers=world.headers("alice"))
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    lines = archive.read("transactions.csv").decode().splitlines()
    count = _rows(world.db, "SELECT count(*) FROM transactions WHERE user_id = ?",
                  world.ids["alice"])[0][0]
    assert len(lines) == count + 1 and "manifest.json" in archive.namelist()


def test_admins_manage_users_and_roles_and_no_one_else_does(world: World) -> None:
    listing = world.tools.get("/api/admin/users", headers=world.headers("root"))
    assert listing.status_code == 200
    users = {u["name"]: u for u in listing.json()["data"]}
    assert users["adele"]["role"] == "advisor" and users["alice"]["role"] == "customer"
    assert set(users["alice"]) == {"id", "name", "role", "created_at"}
    created = world.tools.post("/api/admin/users", headers=world.headers("root"),
                               json={"name": "avery", "role": "advisor"})
    assert created.status_code == 201 and created.json()["role"] == "advisor"
    changed = world.tools.put(f"/api/admin/users/{created.json()['id']}/role",
                              headers=world.headers("root"), json={"role": "customer"})
    assert changed.status_code == 200 and changed.json()["role"] == "customer"
    last = world.tools.put(f"/api/admin/users/{world.ids['root']}/role",
                           headers=world.headers("root"), json={"role": "customer"})
    assert last.status_code == 409
    duplicate = world.tools.post("/api/admin/users", headers=world.headers("root"),
                                 json={"name": "alice"})
    assert duplicate.status_code == 400
    missing = world.tools.put("/api/admin/users/987654/role", headers=world.headers("root"),
                              json={"role": "admin"})
    assert missing.status_code == 404
    for user in ("alice", "adele"):
        assert world.tools.get("/api/admin/users", headers=world.headers(user)).status_code == 403
        assert world.tools.post("/api/admin/users", headers=world.headers(user),
                                json={"name": "mallory", "role": "admin"}).status_code == 403


# ---------------------------------------------------------------- erasure (last: it deletes)
def _new_customer(world: World, name: str) -> tuple[int, str]:
    created = world.tools.post("/api/admin/users", headers=world.headers("root"),
                               json={"name": name})
    user_id = created.json()["id"]
    engine = make_engine(str(world.db))
    token = create_token(session_factory(engine), user_id, label="test")
    engine.dispose()
    entry = world.tools.post("/api/transactions", headers={"Authorization": f"Bearer {token}"},
                             json={"account": "Checking", "date": "2026-01-02",
                                   "amount": "-4.20", "payee": f"{name} cafe"})
    assert entry.status_code == 201, entry.text
    return user_id, token


def _remaining(db: Path, user_id: int) -> int:
    return sum(n for (n,) in _rows(
        db, "SELECT (SELECT count(*) FROM users WHERE id = ?) "
            "+ (SELECT count(*) FROM transactions WHERE user_id = ?) "
            "+ (SELECT count(*) FROM accounts WHERE user_id = ?)", user_id, user_id, user_id))


def test_a_customer_erases_their_own_account(world: World) -> None:
    user_id, token = _new_customer(world, "leaving")
    headers = {"Authorization": f"Bearer {token}"}
    unconfirmed = world.tools.request("DELETE", "/api/account", headers=headers,
                                      json={"confirm_user_id": user_id + 1})
    assert unconfirmed.status_code == 400 and _remaining(world.db, user_id) > 0
    erased = world.tools.request("DELETE", "/api/account", headers=headers,
                                 json={"confirm_user_id": user_id})
    assert erased.status_code == 200 and erased.json()["rows_deleted"]["transactions"] == 1
    assert _remaining(world.db, user_id) == 0
    assert world.tools.get("/api/audit", headers=headers).status_code == 401


def test_an_admin_erases_a_user(world: World) -> None:
    user_id, token = _new_customer(world, "erased-by-admin")
    erased = world.tools.request("DELETE", "/api/account", headers=world.headers("root", user_id),
                                 json={"confirm_user_id": user_id})
    assert erased.status_code == 200
    assert _remaining(world.db, user_id) == 0
    assert world.ask("root", "hi", customer=user_id).status_code == 403
    gone = world.tools.get("/api/export", headers=world.headers("root", user_id))
    assert gone.status_code == 404
    assert world.tools.get("/v1/models",
                           headers={"Authorization": f"Bearer {token}"}).status_code == 401
