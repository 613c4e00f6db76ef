"""Imports and manual entry over real HTTP: uploads, reports, undo, validation, limits and
users kept apart. What landed in the ledger is read back with plain ``sqlite3``."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from import_support import DATA
from server_support import demo_ledger, live_server, token_for

from ledger.crypto import decrypt_stored
from ledger.importing import ImportLimits
from server import ServerSettings, create_app

STATEMENT = b"""Date,Description,Amount
2031-03-02,CARD PAYMENT TO CORNER SHOP,-12.50
2031-03-03,SALARY ACME LTD,2500.00
2031-03-03,=HYPERLINK("http://x"),-1.00
"""
"""Alice's demo "Checking" account is in euros; 2031 is after every demo transaction, so no
cross-source match can absorb these rows."""


@dataclass
class Api:
    base: str
    tokens: dict[str, str]
    ledger: Path

    def client(self, user: str = "alice") -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=120,
                            headers={"Authorization": f"Bearer {self.tokens[user]}"})

    def upload(self, data: bytes, user: str = "alice", name: str = "statement.csv",
               **fields: Any) -> httpx.Response:
        form = {"account": "Checking", **fields}
        with self.client(user) as client:
            return client.post("/api/imports", data=form, files={"file": (name, data)})

    def rows(self, where: str, *params: object) -> list[tuple]:
        """Rows as stored, the memo (encrypted at rest) decrypted."""
        with sqlite3.connect(self.ledger) as conn:
            rows = conn.execute(
                "SELECT t.date, t.amount, t.payee, t.memo, c.name, a.name, u.name "
                "FROM transactions t JOIN accounts a ON a.id = t.account_id "
                "JOIN users u ON u.id = t.user_id LEFT JOIN categories c ON c.id = t.category_id "
                f"WHERE {where} ORDER BY t.id", params).fetchall()
        return [(*row[:3], decrypt_stored(row[3], "transactions.memo"), *row[4:]) for row in rows]

    def count(self, table: str) -> int:
        with sqlite3.connect(self.ledger) as conn:
            return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    directory = tmp_path_factory.mktemp("import-api")
    ledger = demo_ledger(directory)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FINCHAT_MODEL_DIR", str(directory / "models"))
        app = create_app(ServerSettings(database_url=str(ledger)))
        tokens = {user: token_for(ledger, user) for user in ("alice", "bob")}
        with live_server(app) as server:
            yield Api(server.base_url, tokens, ledger)


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()["error"]


# ---------------------------------------------------------------- imports


def test_upload_list_reimport_and_undo(api: Api) -> None:
    created = api.upload(STATEMENT)
    assert created.status_code == 201, created.text
    report = created.json()
    assert (report["account"], report["format"], report["filename"]) == (
        "Checking", "csv", "statement.csv")
    assert (report["rows_read"], report["rows_added"], report["rows_duplicate"]) == (3, 3, 0)
    batch = report["id"]
    assert [(d, a, p, m, acc, u) for d, a, p, m, _, acc, u in api.rows("t.import_id = ?", batch)
            ] == [
        ("2031-03-02", -1250, "Corner Shop", None, "Checking", "alice"),
        ("2031-03-03", 250000, "Salary Acme Ltd", None, "Checking", "alice"),
        ("2031-03-03", -100, "'=HYPERLINK(\"http://x\")", None, "Checking", "alice"),
    ]

    with api.client() as client:
        listed = client.get("/api/imports").json()["data"]
    assert listed[0]["id"] == batch
    assert (listed[0]["rows_added"], listed[0]["rows_present"]) == (3, 3)

    again = api.upload(STATEMENT, name="renamed.csv")
    assert again.status_code == 200, again.text
    assert (again.json()["already_imported_as"], again.json()["id"]) == (batch, None)

    with api.client() as client:
        undone = client.delete(f"/api/imports/{batch}")
        assert undone.json() == {"id": batch, "transactions_deleted": 3}
        assert _error(client.delete(f"/api/imports/{batch}"), 404)["param"] == "import_id"
        assert batch not in [b["id"] for b in client.get("/api/imports").json()["data"]]
    assert api.rows("t.import_id = ?", batch) == []


def test_a_bad_row_rejects_the_file_naming_file_line_and_field(api: Api) -> None:
    data = STATEMENT.replace(b"-12.50", b"twelve").replace(b"03,SALARY", b"30,SALARY").replace(
        b"2031-03-30", b"2031-02-30")
    batches = api.count("import_batches")
    error = _error(api.upload(data, name="bad.csv"), 400)
    assert error["code"] == "import_rejected"
    assert error["message"].startswith("bad.csv, line 2, Amount: not an amount: 'twelve'")
    assert error["invalid_row_count"] == 2
    assert error["invalid_rows"] == [
        {"file": "bad.csv", "line": 2, "field": "Amount",
         "message": "not an amount: 'twelve'"},
        {"file": "bad.csv", "line": 3, "field": "Date",
         "message": "not a date in the format %Y-%m-%d: '2031-02-30'"},
    ]
    assert api.count("import_batches") == batches

    skipped = api.upload(data, name="bad.csv", skip_invalid="true", categorise="false")
    assert skipped.status_code == 201, skipped.text
    report = skipped.json()
    assert (report["rows_added"], report["rows_invalid"]) == (1, 2)
    assert [row["line"] for row in report["invalid_rows"]] == [2, 3]
    assert api.rows("t.import_id = ?", report["id"]) == [
        ("2031-03-03", -100, "'=HYPERLINK(\"http://x\")", None, None, "Checking", "alice")]
    with api.client() as client:
        client.delete(f"/api/imports/{report['id']}")


def test_csv_options_are_the_clis(api: Api) -> None:
    data = (DATA / "us_wellsfargo_noheader.csv").read_bytes()
    error = _error(api.upload(data, name="wf.csv"), 400)
    assert "no header row" in error["message"]
    mapped = api.upload(data, name="wf.csv", map=["1=date", "2=amount", "5=payee"],
                        negate="true", categorise="false")
    assert mapped.status_code == 201, mapped.text
    batch = mapped.json()["id"]
    assert [(d, a) for d, a, *_ in api.rows("t.import_id = ?", batch)] == [
        ("2026-10-27", -185000), ("2026-10-29", 999), ("2026-10-31", 6712)]
    with api.client() as client:
        client.delete(f"/api/imports/{batch}")
    bad_map = _error(api.upload(data, name="wf.csv", map="1=when"), 400)
    assert (bad_map["param"], bad_map["code"]) == ("map", "invalid_value")
    assert "unknown field 'when'" in bad_map["message"]


def test_a_file_that_is_not_a_statement_is_one_sentence(api: Api) -> None:
    error = _error(api.upload(b"%PDF-1.7\n%binary", name="statement.pdf"), 400)
    assert (error["code"], error["param"]) == ("import_rejected", "file")
    assert error["message"] == ("statement.pdf is a PDF document, not a CSV or OFX file; "
                                "export it as CSV")
    assert "invalid_rows" not in error


@pytest.mark.parametrize(("fields", "files", "param", "fragment"), [
    ({"account": "Checking", "skip-invalid": "true"}, True, "skip-invalid",
     "unknown form field"),
    ({"account": "Checking"}, False, "file", "'file' is required"),
    ({}, True, "account", "'account' is required"),
    ({"account": "Checking", "negate": "maybe"}, True, "negate", "true or false"),
    ({"account": ["Checking", "Savings"]}, True, "account", "given 2 times"),
])
def test_form_mistakes_are_named(api: Api, fields: dict[str, Any], files: bool, param: str,
                                 fragment: str) -> None:
    with api.client() as client:
        response = client.post("/api/imports", data=fields,
                               files={"file": ("s.csv", STATEMENT)} if files else None)
    error = _error(response, 400)
    assert error["param"] == param and fragment in error["message"]


def test_uploads_larger_than_the_api_limit_but_within_the_import_limit(api: Api) -> None:
    """A statement over the server's 256 KiB JSON limit imports; one byte over the import
    limit is refused with the CLI's sentence."""
    lines = [b"Date,Description,Amount"] + [
        f"2031-04-{i % 28 + 1:02d},Shop {i},-{i % 900 + 1}.{i % 100:02d}".encode()
        for i in range(20_000)]
    data = b"\n".join(lines) + b"\n"
    assert len(data) > 512 * 1024
    response = api.upload(data, name="big.csv", categorise="false")
    assert response.status_code == 201, response.text
    batch = response.json()["id"]
    with sqlite3.connect(api.ledger) as conn:
        count, total = conn.execute("SELECT count(*), sum(amount) FROM transactions "
                                    "WHERE import_id = ?", (batch,)).fetchone()
    assert (count, total) == (20_000, -sum((i % 900 + 1) * 100 + i % 100 for i in range(20_000)))
    with api.client() as client:
        client.delete(f"/api/imports/{batch}")

    with api.client() as client:  # other endpoints keep the server-wide limit
        entry = {"account": "Checking", "date": "2031-04-01", "amount": "-1.00",
                 "payee": "x" * (300 * 1024)}
        assert _error(client.post("/api/transactions", json=entry), 413)["code"] == (
            "request_too_large")
    limit = ImportLimits().max_bytes
    error = _error(api.upload(b"x" * (limit + 1), name="huge.csv"), 413)
    assert error["code"] == "request_too_large"
    assert error["message"] == (f"huge.csv is {limit + 1:,} bytes; the limit is {limit:,} "
                                "(split the export into smaller date ranges)")


# ---------------------------------------------------------------- users kept apart


def test_another_users_account_import_and_transaction_are_404(api: Api) -> None:
    error = _error(api.upload(STATEMENT, account="Amex"), 404)
    assert error["param"] == "account"
    assert error["message"] == ("no account named 'Amex'; your accounts: Car Loan, Checking, "
                                "Savings, Visa Card")  # the caller's own, not bob's

    batch = api.upload(STATEMENT.replace(b"2031", b"2032")).json()["id"]
    with api.client("alice") as alice:
        entry = alice.post("/api/transactions", json={
            "account": "Savings", "date": "2032-01-05", "amount": "-7.00",
            "payee": "Alice only"}).json()
    with api.client("bob") as bob:
        assert _error(bob.delete(f"/api/imports/{batch}"), 404)["code"] == "not_found"
        assert batch not in [b["id"] for b in bob.get("/api/imports").json()["data"]]
        assert _error(bob.patch(f"/api/transactions/{entry['id']}",
                                json={"amount": "-1.00"}), 404)["param"] == "transaction_id"
        assert _error(bob.delete(f"/api/transactions/{entry['id']}"), 404)
        missing = _error(bob.delete("/api/transactions/999999999"), 404)
        assert missing["message"].endswith("no transaction with id 999999999")
    assert api.rows("t.id = ?", entry["id"]) == [
        ("2032-01-05", -700, "Alice only", None, None, "Savings", "alice")]
    assert len(api.rows("t.import_id = ?", batch)) == 3
    with api.client("alice") as alice:
        alice.delete(f"/api/imports/{batch}")
        alice.delete(f"/api/transactions/{entry['id']}")


def test_a_token_is_required(api: Api) -> None:
    response = httpx.post(f"{api.base}/api/imports", data={"account": "Checking"},
                          files={"file": ("s.csv", STATEMENT)})
    assert _error(response, 401)["code"] == "invalid_api_key"
    assert httpx.post(f"{api.base}/api/transactions", json={}).status_code == 401


# ---------------------------------------------------------------- manual entry


def test_a_card_number_in_a_memo_is_stored_whole_but_answered_masked(api: Api) -> None:
    with api.client() as client:
        created = client.post("/api/transactions", json={
            "account": "Checking", "date": "2031-06-01", "amount": "-20",
            "payee": "Refund desk", "memo": "refund to card 4111 1111 1111 1111"})
        assert created.status_code == 201, created.text
    memo = created.json()["memo"]
    assert "1111" in memo and "4111" not in memo
    [row] = api.rows("t.id = ?", created.json()["id"])
    assert row[3] == "refund to card 4111 1111 1111 1111"


def test_add_edit_and_delete_a_transaction(api: Api) -> None:
    with api.client() as client:
        created = client.post("/api/transactions", json={
            "account": "checking", "date": "2031-05-01", "amount": "-1.234,56",
            "payee": "+Landlord", "memo": "May rent", "category": "Groceries"})
        assert created.status_code == 201, created.text
        entry = created.json()
        assert entry == {"id": entry["id"], "date": "2031-05-01", "account": "Checking",
                         "amount": "-1234.56", "currency": "EUR", "payee": "'+Landlord",
                         "memo": "May rent", "category": "Groceries"}
        where = ("t.id = ?", entry["id"])
        assert api.rows(*where) == [
            ("2031-05-01", -123456, "'+Landlord", "May rent", "Groceries", "Checking", "alice")]

        edited = client.patch(f"/api/transactions/{entry['id']}", json={
            "amount": 12, "memo": None, "category": "", "account": "Savings"})
        assert edited.status_code == 200, edited.text
        assert api.rows(*where) == [
            ("2031-05-01", 1200, "'+Landlord", None, None, "Savings", "alice")]

        assert client.delete(f"/api/transactions/{entry['id']}").status_code == 204
        assert api.rows(*where) == []
        assert _error(client.delete(f"/api/transactions/{entry['id']}"), 404)


@pytest.mark.parametrize(("body", "param", "fragment"), [
    ({"amount": 12.5}, "amount", "never a float"),
    ({"amount": "12.345"}, "amount", "more than two decimal places"),
    ({"date": "01/05/2031"}, "date", "use YYYY-MM-DD"),
    ({"date": 20310501}, "date", "string"),
    ({"payee": "  "}, "payee", "must not be empty"),
    ({"payee": "x" * 201}, "payee", "at most 200"),
    ({"category": "Caviar"}, "category", "Caviar"),
    ({"colour": "red"}, "colour", "Extra inputs"),
])
def test_manual_entry_is_validated_like_the_cli(api: Api, body: dict[str, Any], param: str,
                                               fragment: str) -> None:
    valid = {"account": "Checking", "date": "2031-05-02", "amount": "-3.00", "payee": "Cafe"}
    rows = api.count("transactions")
    with api.client() as client:
        error = _error(client.post("/api/transactions", json={**valid, **body}), 400)
    assert error["param"] == param and fragment in error["message"], error
    assert api.count("transactions") == rows


def test_edits_that_cannot_be_applied(api: Api) -> None:
    with api.client() as client:
        entry = client.post("/api/transactions", json={
            "account": "Checking", "date": "2031-05-03", "amount": "-2.00",
            "payee": "Kiosk"}).json()
        url = f"/api/transactions/{entry['id']}"
        assert _error(client.patch(url, json={}), 400)["code"] == "missing_required_parameter"
        assert _error(client.patch(url, json={"amount": None}), 400)["param"] == "amount"
        assert _error(client.patch(url, json={"account": "Amex"}), 404)["param"] == "account"
        assert _error(client.patch("/api/transactions/0", json={"memo": "x"}), 400)
        client.delete(url)
    assert api.rows("t.payee = 'Kiosk'") == []
