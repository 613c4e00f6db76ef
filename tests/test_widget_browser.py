"""The widget end to end in headless Chromium: the demo page, the real offline model, the
demo ledger. It asks, watches the answer stream in with its tool step, checks the amount
against plain SQL, shows a hostile payee as text, and finds the history after a reload."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright
from server_support import (
    category_spending,
    demo_ledger,
    ledger_today,
    live_server,
    mentions_amount,
    previous_month,
    token_for,
)

from ledger.crypto import decrypt_stored
from server import ServerSettings, create_app

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="headless Chromium is not installed at /usr/bin/chromium")

HOSTILE = "<img src=x onerror=alert(1)>"
QUESTION = "How much did I spend on groceries last month?"
LIST_QUESTION = "Show my last 5 transactions"
WIDGET = "document.querySelector('.finchat-widget-host').shadowRoot"

# Records every text the streaming answer shows, to prove it grew piece by piece.
WATCH_ANSWER = f"""() => {{
  const root = {WIDGET};
  window.__answerTexts = [];
  new MutationObserver(() => {{
    const texts = root.querySelectorAll('.fc-assistant .fc-text');
    if (texts.length) window.__answerTexts.push(texts[texts.length - 1].textContent);
  }}).observe(root.querySelector('.fc-log'),
              {{subtree: true, childList: true, characterData: true}});
}}"""


@dataclass
class Site:
    base: str
    ledger: Path
    groceries: Decimal


def _add_hostile_transaction(ledger: Path, user: str) -> None:
    """A transaction on the user's latest day whose payee and memo are HTML."""
    day = ledger_today(ledger, user).isoformat()
    with sqlite3.connect(ledger) as conn:
        user_id, account_id, currency = conn.execute(
            "SELECT u.id, a.id, a.currency FROM users u JOIN accounts a ON a.user_id = u.id "
            "WHERE u.name = ? ORDER BY a.id LIMIT 1", (user,)).fetchone()
        conn.execute(
            "INSERT INTO transactions (user_id, account_id, date, amount, currency, payee, memo,"
            " is_transfer) VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
            (user_id, account_id, day, -1234, currency, HOSTILE, HOSTILE))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    ledger = demo_ledger(tmp_path_factory.mktemp("browser"))
    start, end = previous_month(ledger_today(ledger, "alice"))
    groceries = category_spending(ledger, "alice", "Groceries", start, end)
    _add_hostile_transaction(ledger, "alice")
    app = create_app(ServerSettings(database_url=str(ledger)),
                     demo_page_token=token_for(ledger, "alice"))
    with live_server(app) as server:
        yield Site(server.base_url, ledger, groceries)


@dataclass
class Visit:
    """A fresh browser profile on the site, with what the page tried that it must not."""

    page: Page
    dialogs: list[str]
    """Messages of every alert/confirm/prompt the page opened."""
    foreign: list[str]
    """Every request to anywhere but the finchat server (all blocked)."""


@pytest.fixture
def visit(site: Site) -> Iterator[Visit]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context()
        foreign: list[str] = []
        context.route(re.compile(r"^(?!" + re.escape(site.base) + ").*"),
                      lambda route: (foreign.append(route.request.url), route.abort()))
        page = context.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        yield Visit(page, dialogs, foreign)
        browser.close()


def _ask(page: Page, question: str, answers_before: int) -> None:
    box = page.get_by_role("textbox", name=re.compile("Your question"))
    box.fill(question)
    box.press("Enter")
    expect(page.get_by_role("button", name="Helpful answer")).to_have_count(
        answers_before + 1, timeout=60_000)


def test_the_widget_streams_a_grounded_answer_safely_and_remembers_it(
    site: Site, visit: Visit
) -> None:
    page = visit.page
    page.goto(site.base + "/")
    bubble = page.get_by_role("button", name="Open Finance assistant")
    bubble.click()
    box = page.get_by_role("textbox", name=re.compile("Your question"))
    expect(box).to_be_focused()
    page.evaluate(WATCH_ANSWER)

    _ask(page, QUESTION, 0)

    answer = page.locator(".fc-assistant .fc-text").last
    text = answer.text_content() or ""
    assert mentions_amount(text, site.groceries), text
    seen = page.evaluate("window.__answerTexts")
    assert any(0 < len(partial) < len(text) and text.startswith(partial) for partial in seen), (
        "the answer appeared at once instead of streaming")
    step = page.locator(".fc-step").first
    expect(step).to_contain_text("spending_breakdown")
    expect(step).to_have_class(re.compile("fc-ok"))
    expect(step.get_by_role("img")).to_be_visible()  # the SVG bars
    step.get_by_text(re.compile(r"^Table \(\d+ rows?\)$")).click()
    expect(step.locator("table")).to_be_visible()

    # Esc closes and gives focus back to the bubble; the bubble reopens the panel.
    box.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    close_label = page.get_by_role("button", name="Open Finance assistant")
    expect(close_label).to_be_focused()
    page.keyboard.press("Enter")
    expect(box).to_be_focused()

    _ask(page, LIST_QUESTION, 1)
    hostile_cells = page.locator(".fc-table td", has_text=HOSTILE)
    expect(hostile_cells.first).to_be_visible()
    assert page.evaluate(f"{WIDGET}.querySelectorAll('img').length") == 0
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert visit.dialogs == []

    conversation_id = page.evaluate(
        "Object.entries(localStorage).find(([k]) => k.startsWith('finchat:conversation:'))[1]")
    page.reload()
    page.get_by_role("button", name="Open Finance assistant").click()
    expect(page.locator(".fc-user")).to_have_count(2)
    expect(page.locator(".fc-user").first).to_have_text(QUESTION)
    restored = page.locator(".fc-assistant .fc-text").first.text_content() or ""
    assert restored == text
    expect(page.locator(".fc-table td", has_text=HOSTILE).first).to_be_visible()
    expect(page.get_by_role("button", name="Helpful answer")).to_have_count(2)
    assert page.evaluate(
        "Object.entries(localStorage).find(([k]) => k.startsWith('finchat:conversation:'))[1]"
    ) == conversation_id
    assert page.evaluate(f"{WIDGET}.querySelectorAll('img').length") == 0
    assert visit.dialogs == [] and visit.foreign == []


def test_thumbs_down_with_a_comment_is_stored(site: Site, visit: Visit) -> None:
    page = visit.page
    page.goto(site.base + "/")
    page.get_by_role("button", name="Open Finance assistant").click()
    page.get_by_role("button", name="Start a new conversation").click()
    _ask(page, QUESTION, 0)

    page.get_by_role("button", name="Not helpful").click()
    comment = page.get_by_role("textbox", name="Comment on this answer")
    expect(comment).to_be_focused()
    comment.fill("I meant September")
    comment.press("Enter")
    expect(page.get_by_role("status")).to_have_text("Thanks for the comment.")

    with sqlite3.connect(site.ledger) as conn:
        rows = conn.execute(
            "SELECT f.rating, f.comment, m.role FROM feedback f "
            "JOIN conversation_messages m ON m.id = f.message_id").fetchall()
    comments = [(rating, decrypt_stored(text, "feedback.comment"), role)
                for rating, text, role in rows]
    assert (-1, "I meant September", "assistant") in comments
