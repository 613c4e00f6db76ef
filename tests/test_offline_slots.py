"""Names and numbers in questions: categories (own names, plurals, synonyms), accounts,
payees, amounts, top-N and typo correction, for the default taxonomy and other users."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from offline_support import profile

from assistant.backends.offline.frame import from_reading
from assistant.backends.offline.reading import read, spellers_for
from assistant.backends.offline.slots import find_amounts, find_top_n, index_for
from assistant.backends.offline.text import normalize
from tools.profile import AccountInfo, CategoryInfo, UserProfile


def frame_of(question: str, who: str | UserProfile = "default"):
    user = profile(who) if isinstance(who, str) else who
    return from_reading(read(question, user), user.today)


@pytest.mark.parametrize(
    ("words", "category"),
    [
        ("groceries", "Groceries"), ("GROCERIES", "Groceries"), ("grocery", "Groceries"),
        ("food shopping", "Groceries"), ("the supermarket", "Groceries"),
        ("eating out", "Dining Out"), ("restaurants", "Dining Out"), ("takeaways", "Dining Out"),
        ("dining out", "Dining Out"), ("bills", "Utilities"), ("electricity", "Utilities"),
        ("petrol", "Fuel"), ("cabs", "Taxi"), ("the gym", "Sport"), ("holidays", "Travel"),
        ("the chemist", "Pharmacy"), ("clothes", "Clothing"), ("subscription", "Subscriptions"),
        ("broadband", "Internet"), ("public transit", "Public Transport"),
        ("food", "Food"), ("transport", "Transport"), ("bank charges", "Bank Fees"),
    ],
)
def test_default_taxonomy_categories_by_name_plural_and_synonym(words: str, category: str) -> None:
    assert frame_of(f"how much did I spend on {words} last month").categories == (category,)


@pytest.mark.parametrize(
    ("words", "category"),
    [
        ("groceries", "Supermarket"), ("supermarkets", "Supermarket"),
        ("restaurants", "Eating out"), ("eating out", "Eating out"),
        ("takeaway", "Takeaways"), ("bills", "Bills"), ("the electric bill", "Bills"),
        ("fuel", "Petrol"), ("the gym", "Gym"), ("holidays", "Holidays"), ("travel", "Holidays"),
        ("going out", "Nights out"), ("streaming", "Streaming"), ("childcare", "Childcare"),
        ("the kids", "Kids"), ("haircuts", "Haircuts"), ("food and drink", "Food & Drink"),
    ],
)
def test_another_users_category_names(words: str, category: str) -> None:
    assert frame_of(f"how much did I spend on {words} last month", "uk").categories == (category,)


def test_a_word_that_fits_two_categories_is_ambiguous() -> None:
    frame = frame_of("how much did I spend on insurance", "uk")
    assert frame.categories == () and set(frame.category_options) == {
        "Home Insurance", "Car Insurance"}


def test_a_group_and_its_child_in_a_row_mean_the_child() -> None:
    assert frame_of("how much on the kids' school stuff", "uk").categories == ("School",)
    assert frame_of("takeaway food in september", "uk").categories == ("Takeaways",)


def test_interest_paid_is_the_expense_category_and_interest_earned_the_income_one() -> None:
    assert frame_of("how much interest did I pay this year").categories == ("Loan Interest",)
    assert frame_of("how much interest did I earn this year").categories == ("Interest",)


def test_names_nobody_taught_the_planner_still_match() -> None:
    user = UserProfile(
        user_name="Kim", today=dt.date(2026, 5, 15), currency="CHF",
        accounts=[AccountInfo(name="Postfinance", kind="checking", currency="CHF"),
                  AccountInfo(name="Säule 3a", kind="investment", currency="CHF")],
        categories=[CategoryInfo(name="Household Bills", parent=None, kind="expense"),
                    CategoryInfo(name="Eating & Drinking", parent=None, kind="expense"),
                    CategoryInfo(name="Zoo Trips", parent=None, kind="expense"),
                    CategoryInfo(name="Pets", parent=None, kind="expense")],
        payees=["Migros", "Coop Pronto"], budget_categories=[],
    )
    assert frame_of("zoo trip costs this year", user).categories == ("Zoo Trips",)
    assert frame_of("how much on bills last month", user).categories == ("Household Bills",)
    assert frame_of("eating and drinking in april", user).categories == ("Eating & Drinking",)
    assert frame_of("how much did the vet cost", user).categories == ("Pets",)
    assert frame_of("balance of saule 3a", user).account == "Säule 3a"
    assert frame_of("spent at coop last week", user).payee == "Coop Pronto"


@pytest.mark.parametrize(
    ("question", "account"),
    [
        ("spending on my credit card", "Visa Platinum"), ("what's on the visa", "Visa Platinum"),
        ("balance of my savings", "Rainy Day Savings"), ("rainy day fund", "Rainy Day Savings"),
        ("checking balance", "Everyday Checking"), ("my current account", "Everyday Checking"),
        ("what's left on the car loan", "Car Loan"), ("brokerage value", "Brokerage"),
    ],
)
def test_accounts_by_name_and_kind(question: str, account: str) -> None:
    assert frame_of(question).account == account


def test_a_kind_with_two_accounts_is_ambiguous() -> None:
    frame = frame_of("what's the balance on my card", "uk")
    assert frame.account is None and set(frame.account_options) == {"Barclaycard", "Amex"}


@pytest.mark.parametrize(
    ("question", "payee", "who"),
    [
        ("spent at amazon", "Amazon", "default"),
        ("albert heijn last week", "Albert Heijn", "default"),
        ("how much at starbuks", "Starbucks", "default"), ("pathe tickets", "Pathé", "default"),
        ("spent at sainsburys", "Sainsbury's", "uk"), ("pret lunches", "Pret A Manger", "uk"),
        ("nandos in june", "Nando's", "uk"),
    ],
)
def test_payees_by_name_token_typo_and_accent(question: str, payee: str, who: str) -> None:
    assert frame_of(question, who).payee == payee


def test_a_payee_described_by_a_category_word_stays_the_payee() -> None:
    frame = frame_of("how much went on uber rides last month")
    assert (frame.payee, frame.categories) == ("Uber", ())


def test_an_unknown_spending_target_becomes_a_text_search() -> None:
    frame = frame_of("how much did I spend on zorbing")
    assert (frame.text, frame.categories, frame.payee) == ("zorbing", (), None)


def amounts(text: str) -> tuple[Decimal | None, Decimal | None]:
    found = find_amounts(normalize(text, ()), set())
    return found.minimum, found.maximum


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("over €50", (Decimal(50), None)), ("more than 100", (Decimal(100), None)),
        ("under 20", (None, Decimal(20))), ("less than £19.99", (None, Decimal("19.99"))),
        ("between 20 and 50 euros", (Decimal(20), Decimal(50))),
        ("between $50 and $20", (Decimal(20), Decimal(50))),
        ("£1,250.50 or more", (Decimal("1250.50"), None)), ("2k+", (Decimal(2000), None)),
        ("at least 5 dollars", (Decimal(5), None)), ("100 or less", (None, Decimal(100))),
        ("over the last 3 months", (None, None)), ("top 5 merchants", (None, None)),
    ],
)
def test_amount_bounds(text: str, expected: tuple[Decimal | None, Decimal | None]) -> None:
    assert amounts(text) == expected


@pytest.mark.parametrize(
    ("text", "count"),
    [("top 5 merchants", 5), ("my three biggest purchases", 3), ("largest 4", 4),
     ("last 10 transactions", 10), ("top ten categories", 10), ("spent 50 euros", None)],
)
def test_top_n(text: str, count: int | None) -> None:
    found = find_top_n(normalize(text, ()), set())
    assert (found[0] if found else None) == count


def test_typos_are_fixed_against_known_words_only() -> None:
    spellers = spellers_for(index_for(profile()))
    tokens = normalize("whats my blance, spnd on groceris and cloths at albert hein", spellers)
    assert tokens == ["what", "my", "balance", "spend", "on", "groceries", "and", "clothes", "at",
                      "albert", "heijn"]
    assert normalize("Bob paid zorbing fees", spellers) == ["bob", "paid", "zorbing", "fees"]
