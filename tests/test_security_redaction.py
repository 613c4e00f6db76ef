"""PII redaction: what is masked, what must survive, and what the OpenAI backend really sends.

The last tests run the real agent loop and SDK against the fake OpenAI server and inspect the
exact request bodies it received.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from decimal import Decimal

import pytest
from agent_support import collect
from fake_openai_server import FakeCall, FakeOpenAIServer, Reply
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import sessionmaker

from assistant.agent import run_turn
from assistant.backends.openai_model import OpenAIModel
from assistant.events import ToolFinished, TurnCompleted
from assistant.redaction import Redactor, iban_valid, luhn_valid, redact
from tools.base import VOCAB_KEY, Tool, ToolContext, ToolRegistry
from tools.profile import AccountInfo, CategoryInfo, UserProfile


# ---------------------------------------------------------------- what is masked
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card 4111 1111 1111 1111 ok", "card •••• 1111 ok"),
        ("card 4111111111111111", "card •••• 1111"),
        ("amex 3782 822463 10005", "amex •••• 0005"),
        ("card 4111-1111-1111-1111.", "card •••• 1111."),
        # Luhn-valid although its middle groups read like years: masked as one card number
        ("card 4111 2024 2025 1118 ok", "card •••• 1118 ok"),
        ("IBAN DE89 3704 0044 0532 0130 00 please", "IBAN •••• 3000 please"),
        ("IBAN GB82WEST12345698765432.", "IBAN •••• 5432."),
        ("to FR14 2004 1010 0505 0001 3M02 606, thanks", "to •••• 2606, thanks"),
        ("typo DE00 3704 0044 0532 0130 00", "typo •••• 3000"),
        ("account 12345678 closed", "account •••• 5678 closed"),
        ("sort code 12-34-56 12345678", "sort code •••• 5678"),
        ("ref 1012-3456-7890", "ref •••• 7890"),
        ("ref 0012-3456-7890", "ref [phone 1]"),  # 00 1...: dialled like a US number
        ("mail ana.lopez+bank@example.co.uk now", "mail [email 1] now"),
        ("call +44 20 7946 0958 today", "call [phone 1] today"),
        ("call +1 (415) 555-2671", "call [phone 1]"),
        ("call 0044 20 7946 0958", "call [phone 1]"),
        ("call +49 (0)30 12345678", "call [phone 1]"),
        ("call (415) 555-2671 or 415-555-2671", "call [phone 1] or [phone 2]"),
        ("call 020 7946 0958", "call [phone 1]"),
        ("call 06 12 34 56 78 or 06.12.34.56.78", "call [phone 1] or [phone 2]"),
        ("call 0800 123 4567 (free)", "call [phone 1] (free)"),
        ("at 221B Baker Street, London NW1 6XE", "at [address 1], London [postcode 1]"),
        ("at 1600 Amphitheatre Pkwy", "at [address 1]"),
        ("at 12 rue de la Paix, 75002 Paris", "at [address 1], 75002 Paris"),
        ("at Hauptstraße 5, Berlin", "at [address 1], Berlin"),
        ("at Calle Mayor 10", "at [address 1]"),
        ("TESCO EXPRESS 12 HIGH ST LONDON", "TESCO EXPRESS [address 1] LONDON"),
        # figures next to personal data keep their place
        ("Ref 12345678 on 2026-10-31", "Ref •••• 5678 on 2026-10-31"),
        ("+44 20 7946 0958 2026-10-31", "[phone 1] 2026-10-31"),
    ],
)
def test_personal_data_is_masked(text: str, expected: str) -> None:
    assert redact(text) == expected


# ---------------------------------------------------------------- what must survive
@pytest.mark.parametrize(
    "text",
    [
        "You spent €1,234.56 on 2026-10-31.",
        "In Q3 2025 your top 5 merchants took 12.5% of spending.",
        "Balance -1520.35 EUR, net worth 10000000.00, savings 1,000,000",
        "Total 1 234,56 € and 1.234,56 EUR and 12'345.60 CHF and £3.20 and $ 2500",
        "EUR 1.234.567,89 and 12345678.90 EUR and -12345678.90 and +12345678.90",
        "tax year 2024-2025, 2024-25, years 2023 2024 2025, between 2024 and 2026",
        "Dates 20261031, 2026/10/31, 31.10.2026, 31/10/26, 10/31/2026, 2026-10-31T14:30:00Z",
        "From 2025-01-01 to 2025-12-31: 5 234,10 EUR over 365 days",
        "Spring 2025 sale; paid via card 12; 5 place settings; Top 5 Street Food",
        "Transaction 2025-01-15 TESCO STORES 3021 LONDON",
        "ids 1234567 and 7654321, page 1-20 of 345, rank 1 of 3, version 1.2.3",
        "Account ending 4321 (the last four digits are shown by banks)",
        "Q1-Q3 2025 up +5.3% YoY, −€45.00 and -45.00 €",
        "product code AB12 CDEF GHIJ KLMN",
        "ISO 9001 and ISO 27001; Route 66; PO Box 1234; order #12345",
        "",
    ],
)
def test_figures_dates_and_short_numbers_survive(text: str) -> None:
    assert redact(text) == text


def test_masking_is_idempotent() -> None:
    text = "card 4111111111111111, mail a@b.io, call +44 20 7946 0958, at 10 Downing Street"
    once = redact(text)
    assert redact(once) == once
    assert not re.search(r"\d{5,}", once)


def test_checksums() -> None:
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert iban_valid("DE89 3704 0044 0532 0130 00") and not iban_valid("DE00370400440532013000")
    assert not iban_valid("AB12CDEFGHIJKLMN")


# ---------------------------------------------------------------- one redactor per request
def test_same_value_same_mask_and_restore() -> None:
    redactor = Redactor()
    first = redactor.text("from ana@example.com to bo@example.com, cc ana@example.com")
    assert first == "from [email 1] to [email 2], cc [email 1]"
    assert redactor.text("4111 1111 1111 1111") == redactor.text("4111111111111111")
    assert redactor.restore({"text": "[email 2]", "n": 3, "l": ["•••• 1111"]}) == {
        "text": "bo@example.com",
        "n": 3,
        "l": ["4111 1111 1111 1111"],
    }
    assert redactor.masked_count == 3


def test_ambiguous_masks_are_not_restored() -> None:
    redactor = Redactor()
    assert redactor.text("12341111 and 99991111") == "•••• 1111 and •••• 1111"
    assert redactor.restore("•••• 1111") == "•••• 1111"


def test_json_stays_valid_and_numbers_stay_numbers() -> None:
    redactor = Redactor()
    raw = json.dumps(
        {"id": 12345678, "payee": "Ana ana@x.io", "amount": "-12345678.90", "date": "2026-10-31",
         "memo": "card 4111111111111111", "rows": [{"k": "+44 20 7946 0958"}]}
    )
    out = json.loads(redactor.json_text(raw))
    assert out == {"id": 12345678, "payee": "Ana [email 1]", "amount": "-12345678.90",
                   "date": "2026-10-31", "memo": "card •••• 1111", "rows": [{"k": "[phone 1]"}]}
    clean = '{"balance":  "8000.00"}'
    assert redactor.json_text(clean) == clean  # unchanged documents keep their bytes
    assert redactor.json_text("not json 12345678") == "not json •••• 5678"


# ---------------------------------------------------------------- the OpenAI backend
EMAIL = "ana.lopez@example.com"
PHONE = "+44 20 7946 0958"
CARD = "4111 1111 1111 1111"
IBAN = "DE89 3704 0044 0532 0130 00"
ACCOUNT_NO = "55779911"
STREET = "221B Baker Street"
RAW_SECRETS = [EMAIL, PHONE, CARD, CARD.replace(" ", ""), IBAN, IBAN.replace(" ", ""),
               ACCOUNT_NO, STREET, "7946", "3704 0044", "Baker"]
DIGIT_SECRETS = [re.sub(r"\D", "", s) for s in (PHONE, CARD, IBAN, ACCOUNT_NO)]
FIGURES = ["€1,234.56", "2026-10-31", "Q3 2025", "top 5", "-1520.35", "12.5%", "4321.09"]
ACCOUNT_NAME = f"Joint {IBAN}"
"""An account named after its IBAN: the name reaches the system prompt and the schema enum."""


class FindIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str
    account: str = Field(json_schema_extra={VOCAB_KEY: "accounts"})


class Row(BaseModel):
    date: dt.date
    payee: str
    memo: str
    amount: Decimal


class FindOut(BaseModel):
    rows: list[Row]


def _registry(received: list[FindIn]) -> ToolRegistry:
    def find(ctx: ToolContext, params: FindIn) -> FindOut:
        received.append(params)
        return FindOut(rows=[
            Row(date=dt.date(2026, 10, 31), payee=f"Refund {EMAIL}",
                memo=f"card {CARD} tel {PHONE} acct {ACCOUNT_NO}", amount=Decimal("-1520.35")),
            Row(date=dt.date(2026, 10, 30), payee=f"Rent {STREET}",
                memo=f"IBAN {IBAN} in Q3 2025", amount=Decimal("4321.09")),
        ])

    return ToolRegistry([Tool("find", "Find rows.", FindIn, FindOut, find)])


def _profile() -> UserProfile:
    return UserProfile(
        user_name="ana",
        today=dt.date(2026, 10, 31),
        currency="EUR",
        accounts=[AccountInfo(name=ACCOUNT_NAME, kind="checking", currency="EUR")],
        categories=[CategoryInfo(name="Food", parent=None, kind="expense")],
        payees=[],
        budget_categories=[],
    )


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as running:
        yield running


async def _ask(server: FakeOpenAIServer, question: str, **options: object) -> list[object]:
    model = OpenAIModel("fake", base_url=server.base_url, max_retries=0, timeout=5, **options)
    received: list[FindIn] = []
    events = await collect(run_turn(
        model=model, registry=_registry(received),
        ctx=ToolContext(sessions=sessionmaker(), user_id=1, today=dt.date(2026, 10, 31)),
        profile=_profile(), history=[], user_message=question,
    ))
    return [*events, received]


QUESTION = (f"I'm {EMAIL}, phone {PHONE}, card {CARD}, living at {STREET}. "
            f"Did I spend €1,234.56 on 2026-10-31, and what are my top 5 in Q3 2025 (12.5%)?")


async def test_the_request_body_carries_no_personal_data(server: FakeOpenAIServer) -> None:
    server.reset()
    masked_account = f"Joint •••• {IBAN.replace(' ', '')[-4:]}"
    server.enqueue(
        Reply(tool_calls=[FakeCall("find", {"text": "[email 1]", "account": masked_account})]),
        Reply(text="You paid [email 1] back: -1520.35 on 2026-10-31."),
    )
    *events, received = await _ask(server, QUESTION)
    done = events[-1]
    assert isinstance(done, TurnCompleted), done

    # the tool ran with the user's real values: the masks were restored before it ran
    assert received == [FindIn(text=EMAIL, account=ACCOUNT_NAME)]
    (finished,) = [e for e in events if isinstance(e, ToolFinished)]
    assert EMAIL in json.dumps(finished.result)  # local events keep the real data

    assert len(server.requests) == 2
    for body in server.requests:
        wire = json.dumps(body, ensure_ascii=False)
        leaked = [secret for secret in RAW_SECRETS if secret in wire]
        assert not leaked, leaked
        joined = re.sub(r"(?<=\d)[ \-](?=\d)", "", wire)  # digit groups written together
        assert not [s for s in DIGIT_SECRETS if s in joined]
    second = json.dumps(server.requests[1], ensure_ascii=False)
    for figure in FIGURES:
        assert figure in second, figure
    messages = server.requests[1]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool"]
    assert masked_account in messages[0]["content"]
    assert server.requests[0]["tools"][0]["function"]["parameters"]["properties"]["account"][
        "enum"] == [masked_account]
    tool_result = json.loads(messages[3]["content"])  # still valid JSON, amounts intact
    assert [row["amount"] for row in tool_result["rows"]] == ["-1520.35", "4321.09"]
    assert tool_result["rows"][0]["memo"] == "card •••• 1111 tel [phone 1] acct •••• 9911"
    sent_call = json.loads(messages[2]["tool_calls"][0]["function"]["arguments"])
    assert sent_call == {"text": "[email 1]", "account": masked_account}


async def test_redaction_can_be_turned_off_for_a_self_hosted_server(
    server: FakeOpenAIServer,
) -> None:
    server.reset()
    server.enqueue(Reply(text="ok"))
    await _ask(server, QUESTION, redact_pii=False)
    assert EMAIL in server.requests[0]["messages"][1]["content"]
