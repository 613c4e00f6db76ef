"""A deterministic, realistic demo ledger: the same seed always gives the same bytes.

Each demo user ("persona") has a salary, rent, bills with a price rise, everyday purchases on
a debit and a credit card, refunds, trips, interest, fees, savings transfers, card repayments
(both legs marked as transfers and linked), and monthly budgets, over 24 calendar months
ending on ``DEMO_LAST_DATE`` (mid-month, so "this month" budgets have something to project).

``transactions=N`` pads the ledger to exactly ``N`` rows with more everyday purchases spread
over the users and the period; that is how the benchmark gets a million rows.

Reproducibility: one ``random.Random(seed)`` drives everything, ids are assigned in date
order, timestamps are pinned and nothing reads the clock, so a SQLite file built twice with
the same arguments is byte-identical (a test checks the SHA-256).
"""

from __future__ import annotations

import datetime as dt
import random
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Connection, Engine, bindparam, func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from ledger.crypto import CryptoError, current_keyring
from ledger.db import create_schema, make_engine, session_factory
from ledger.models import Account, AccountKind, Base, Budget, Category, Transaction, User
from ledger.queries import UNCATEGORISED
from ledger.users import DEFAULT_ACCOUNT, add_account, create_user

DEMO_FIRST_DATE = dt.date(2024, 11, 1)
DEMO_LAST_DATE = dt.date(2026, 10, 20)
"""The demo's "today": its latest transaction date."""
_CREATED_AT = dt.datetime(2024, 10, 28, 9, 0)
_CHUNK = 20_000


# ---------------------------------------------------------------- persona data
@dataclass(frozen=True)
class _AccountSpec:
    key: str
    """How the generator refers to the account: checking, savings, card, loan, invest."""
    name: str
    kind: AccountKind
    opening: int
    """Opening balance in cents (negative for money owed)."""
    institution: str
    last4: str
    rate_bp: int = 0
    """Annual interest rate in basis points (savings interest, loan interest)."""


@dataclass(frozen=True)
class _Bill:
    """A recurring payment (or salary): the amount in force is the last one whose start has
    passed, so a price rise is just a second entry."""

    day: int
    category: str
    payee: str
    account: str
    prices: tuple[tuple[dt.date, int], ...]
    months: tuple[int, ...] = ()
    """Calendar months it falls in (empty: every month)."""
    seasonal: bool = False
    """Winter months (November to March) cost 35% more."""
    memo: str | None = None


@dataclass(frozen=True)
class _Habit:
    """Everyday spending: about ``per_month`` purchases of ``lo``..``hi`` cents."""

    category: str
    per_month: float
    lo: int
    hi: int
    card_share: float
    refund_rate: float = 0.0


@dataclass(frozen=True)
class _Persona:
    name: str
    currency: str
    accounts: tuple[_AccountSpec, ...]
    bills: tuple[_Bill, ...]
    habits: tuple[_Habit, ...]
    merchants: dict[str, tuple[str, ...]]
    savings_transfer: int
    trips: tuple[tuple[dt.date, str, tuple[str, ...]], ...]
    """(start day, destination, restaurants there)."""
    budgets: dict[str, int]
    loan_payment: int = 0
    invest_transfer: int = 0
    fx_fee_bp: int = 0
    """Card fee on trips abroad, in basis points of the trip's spending."""
    big_purchases: tuple[tuple[dt.date, str, str, int], ...] = ()
    """(day, category, payee, cents): one-off purchases such as a laptop."""
    other_income: tuple[tuple[dt.date, str, int], ...] = ()
    fee: _Bill | None = None


def _d(text_date: str) -> dt.date:
    return dt.date.fromisoformat(text_date)


_START = DEMO_FIRST_DATE

_DE_MERCHANTS: dict[str, tuple[str, ...]] = {
    "Groceries": ("REWE", "Lidl", "Aldi Süd", "Edeka", "Kaufland", "Bio Company"),
    "Dining Out": ("Trattoria Da Michele", "Burgermeister", "Sushi Circle", "Lieferando",
                   "Curry 36", "Pho Saigon"),
    "Coffee": ("Starbucks", "Bonanza Coffee", "The Barn", "Espresso House"),
    "Public Transport": ("BVG", "Deutsche Bahn"),
    "Taxi": ("FREE NOW", "Uber", "Bolt"),
    "Fuel": ("Aral", "Shell", "TotalEnergies"),
    "Clothing": ("Zalando", "H&M", "Uniqlo", "Zara"),
    "Electronics": ("MediaMarkt", "Saturn", "Amazon", "Cyberport"),
    "Household": ("IKEA", "dm-drogerie markt", "Rossmann", "Amazon"),
    "Entertainment": ("Yorck Kinos", "Eventim", "Steam", "Thalia"),
    "Sport": ("Decathlon", "Sportscheck"),
    "Pharmacy": ("Apotheke am Markt", "DocMorris"),
    "Doctor": ("Praxis Dr. Weber", "Zahnarztpraxis Lang"),
    "Travel": ("Lufthansa", "Ryanair", "Booking.com", "Airbnb", "Deutsche Bahn Fernverkehr"),
    "Uncategorised": ("PAYPAL *MARKTPLATZ", "SumUp *Flohmarkt", "Kleinanzeigen"),
}

_UK_MERCHANTS: dict[str, tuple[str, ...]] = {
    "Groceries": ("Tesco", "Sainsbury's", "Aldi", "Waitrose", "M&S Food", "Co-op"),
    "Dining Out": ("Dishoom", "Wagamama", "Nando's", "Deliveroo", "Franco Manca", "Honest Burgers"),
    "Coffee": ("Pret A Manger", "Costa Coffee", "Caffè Nero", "Gail's Bakery"),
    "Public Transport": ("TfL Travel Charge", "Trainline"),
    "Taxi": ("Uber", "Bolt", "Addison Lee"),
    "Fuel": ("Shell", "BP"),
    "Clothing": ("ASOS", "Uniqlo", "Next", "Marks & Spencer"),
    "Electronics": ("Currys", "Amazon", "Argos", "Apple Store"),
    "Household": ("IKEA", "Argos", "Wilko", "Amazon"),
    "Entertainment": ("Odeon", "Ticketmaster", "Vue Cinemas", "Waterstones"),
    "Sport": ("Decathlon", "Sweaty Betty"),
    "Pharmacy": ("Boots", "Superdrug"),
    "Doctor": ("Bupa Dental", "Specsavers"),
    "Travel": ("British Airways", "easyJet", "Booking.com", "Airbnb", "Eurostar"),
    "Uncategorised": ("PAYPAL *EBAY", "SumUp *Market Stall", "Vinted"),
}

_HABITS_CITY = (
    _Habit("Groceries", 8, 1_000, 7_500, 0.5),
    _Habit("Dining Out", 4, 1_500, 6_500, 0.7),
    _Habit("Coffee", 10, 280, 620, 0.3),
    _Habit("Public Transport", 2, 290, 2_400, 0.2),
    _Habit("Taxi", 0.8, 900, 3_200, 0.8),
    _Habit("Clothing", 1, 2_000, 11_000, 0.8, refund_rate=0.18),
    _Habit("Electronics", 0.2, 2_000, 30_000, 0.9, refund_rate=0.12),
    _Habit("Household", 1.2, 500, 4_500, 0.5),
    _Habit("Entertainment", 1.2, 900, 5_500, 0.7),
    _Habit("Sport", 0.3, 1_500, 8_000, 0.8),
    _Habit("Pharmacy", 0.6, 350, 2_800, 0.2),
    _Habit("Doctor", 0.1, 4_000, 12_000, 0.1),
    _Habit("Uncategorised", 0.4, 800, 5_000, 0.3),
)

_PERSONAS: tuple[_Persona, ...] = (
    _Persona(
        name="alice",
        currency="EUR",
        accounts=(
            _AccountSpec("checking", DEFAULT_ACCOUNT, AccountKind.CHECKING, 2_450_00,
                         "Sparkasse Berlin", "4821"),
            _AccountSpec("savings", "Savings", AccountKind.SAVINGS, 8_000_00,
                         "Sparkasse Berlin", "7310", rate_bp=225),
            _AccountSpec("card", "Visa Card", AccountKind.CREDIT_CARD, 0,
                         "Sparkasse Berlin", "9044"),
            _AccountSpec("loan", "Car Loan", AccountKind.LOAN, -9_600_00,
                         "Volkswagen Bank", "5502", rate_bp=490),
        ),
        bills=(
            _Bill(25, "Salary", "Nordlicht Software GmbH", "checking",
                  ((_START, 3_420_00), (_d("2026-01-01"), 3_595_00)), memo="Gehalt"),
            _Bill(1, "Rent", "Hausverwaltung Krüger", "checking",
                  ((_START, 1_150_00), (_d("2026-04-01"), 1_185_00)), memo="Miete"),
            _Bill(3, "Utilities", "Vattenfall", "checking", ((_START, 78_00),), seasonal=True),
            _Bill(9, "Utilities", "Vodafone", "checking", ((_START, 29_99),)),
            _Bill(7, "Internet", "Telekom", "checking", ((_START, 39_95),)),
            _Bill(15, "Home Insurance", "Allianz Hausrat", "checking", ((_START, 96_40),),
                  months=(3,)),
            _Bill(1, "Public Transport", "BVG Deutschlandticket", "checking",
                  ((_START, 49_00), (_d("2025-01-01"), 58_00))),
            _Bill(12, "Subscriptions", "Netflix", "card",
                  ((_START, 13_99), (_d("2025-07-01"), 15_99))),
            _Bill(18, "Subscriptions", "Spotify", "card",
                  ((_START, 10_99), (_d("2025-10-01"), 11_99))),
            _Bill(21, "Subscriptions", "Apple iCloud", "card", ((_START, 2_99),)),
            _Bill(2, "Sport", "Urban Sports Club", "checking", ((_START, 54_00),)),
            _Bill(11, "Fuel", "Aral", "card", ((_START, 62_00),), seasonal=True),
        ),
        habits=_HABITS_CITY,
        merchants=_DE_MERCHANTS,
        savings_transfer=300_00,
        loan_payment=350_00,
        trips=(
            (_d("2025-03-14"), "Lisbon", ("Time Out Market Lisboa", "Cervejaria Ramiro")),
            (_d("2025-08-02"), "Sicily", ("Trattoria Il Gallo", "Osteria Nero d'Avola")),
            (_d("2026-05-22"), "Copenhagen", ("Torvehallerne", "Gasoline Grill")),
            (_d("2026-08-08"), "Mallorca", ("Bar Bosch", "Ca'n Joan de s'Aigo")),
        ),
        budgets={"Groceries": 360_00, "Dining Out": 170_00, "Coffee": 50_00,
                 "Transport": 190_00, "Shopping": 200_00, "Subscriptions": 32_00},
        big_purchases=((_d("2025-11-24"), "Electronics", "Apple Store", 1_299_00),),
        other_income=((_d("2025-08-19"), "Finanzamt Berlin", 612_40),
                      (_d("2026-08-27"), "Finanzamt Berlin", 488_15)),
        fee=_Bill(1, "Bank Fees", "Sparkasse Berlin", "checking",
                  ((_START, 4_90), (_d("2026-02-01"), 5_90)), memo="Kontoführungsentgelt"),
    ),
    _Persona(
        name="bob",
        currency="GBP",
        accounts=(
            _AccountSpec("checking", DEFAULT_ACCOUNT, AccountKind.CHECKING, 1_820_00,
                         "Monzo", "1187"),
            _AccountSpec("savings", "Savings", AccountKind.SAVINGS, 12_500_00,
                         "Marcus", "6620", rate_bp=410),
            _AccountSpec("card", "Amex", AccountKind.CREDIT_CARD, 0,
                         "American Express", "3005"),
            _AccountSpec("invest", "Stocks ISA", AccountKind.INVESTMENT, 15_000_00,
                         "Vanguard", "2291"),
        ),
        bills=(
            _Bill(28, "Salary", "Brightwell Analytics Ltd", "checking",
                  ((_START, 3_350_00), (_d("2025-04-01"), 3_480_00)), memo="SALARY"),
            _Bill(1, "Rent", "Foxtons Lettings", "checking", ((_START, 1_450_00),)),
            _Bill(4, "Utilities", "Octopus Energy", "checking", ((_START, 96_00),),
                  seasonal=True),
            _Bill(6, "Utilities", "Lambeth Council Tax", "checking", ((_START, 142_00),),
                  months=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)),
            _Bill(10, "Internet", "BT Broadband", "checking",
                  ((_START, 32_99), (_d("2025-04-01"), 35_49))),
            _Bill(14, "Home Insurance", "Aviva", "checking", ((_START, 11_40),)),
            _Bill(3, "Subscriptions", "Netflix", "card",
                  ((_START, 10_99), (_d("2025-06-01"), 12_99))),
            _Bill(16, "Subscriptions", "Spotify", "card",
                  ((_START, 11_99), (_d("2026-03-01"), 12_99))),
            _Bill(20, "Subscriptions", "Disney+", "card", ((_START, 7_99),)),
            _Bill(1, "Sport", "PureGym", "checking", ((_START, 29_99), (_d("2026-01-01"), 32_99))),
        ),
        habits=_HABITS_CITY,
        merchants=_UK_MERCHANTS,
        savings_transfer=250_00,
        invest_transfer=150_00,
        fx_fee_bp=299,
        trips=(
            (_d("2025-04-18"), "Barcelona", ("Cervecería Catalana", "La Paradeta")),
            (_d("2025-09-05"), "Paris", ("Bouillon Chartier", "Le Comptoir")),
            (_d("2026-06-12"), "Rome", ("Da Enzo al 29", "Roscioli")),
        ),
        budgets={"Groceries": 340_00, "Dining Out": 180_00, "Coffee": 45_00,
                 "Leisure": 250_00, "Shopping": 170_00},
        big_purchases=((_d("2026-02-07"), "Electronics", "Currys", 849_00),),
        other_income=((_d("2025-12-15"), "Vinted", 84_50), (_d("2026-04-11"), "Vinted", 126_00)),
    ),
    _Persona(
        name="chloe",
        currency="EUR",
        accounts=(
            _AccountSpec("checking", DEFAULT_ACCOUNT, AccountKind.CHECKING, 980_00, "N26", "0312"),
            _AccountSpec("savings", "Savings", AccountKind.SAVINGS, 3_200_00, "N26", "0313",
                         rate_bp=200),
            _AccountSpec("card", "Mastercard", AccountKind.CREDIT_CARD, 0, "Advanzia", "7781"),
            _AccountSpec("invest", "Brokerage", AccountKind.INVESTMENT, 6_400_00,
                         "Trade Republic", "4410"),
        ),
        bills=(
            _Bill(27, "Salary", "Stadtklinikum München", "checking",
                  ((_START, 2_860_00), (_d("2025-07-01"), 2_975_00))),
            _Bill(1, "Rent", "WG Schwabing Hauptmiete", "checking", ((_START, 890_00),)),
            _Bill(5, "Utilities", "SWM Stadtwerke München", "checking", ((_START, 54_00),),
                  seasonal=True),
            _Bill(8, "Internet", "O2", "checking", ((_START, 34_99),)),
            _Bill(13, "Subscriptions", "Netflix", "card",
                  ((_START, 4_99), (_d("2025-07-01"), 5_99))),
            _Bill(19, "Subscriptions", "Spotify", "card", ((_START, 10_99),)),
            _Bill(2, "Sport", "Boulderwelt", "checking", ((_START, 59_00),)),
        ),
        habits=_HABITS_CITY,
        merchants=_DE_MERCHANTS,
        savings_transfer=450_00,
        invest_transfer=200_00,
        trips=((_d("2025-06-06"), "Vienna", ("Figlmüller", "Café Sperl")),),
        budgets={"Groceries": 320_00, "Dining Out": 170_00, "Shopping": 120_00},
    ),
)

MAX_USERS = len(_PERSONAS)
"""How many demo users there can be: one per persona."""


# ---------------------------------------------------------------- generation
_Row = tuple[int, str, int, str, str | None, str | None, int | None]
"""(day ordinal, account key, cents, payee, memo, category, transfer pair or None)."""
_Ids = tuple[int, dict[str, int], dict[str, int]]
"""A persona's user id, account ids by key and category ids by name."""
_Sorted = tuple[int, str, int, str, str | None, str | None, int | None, int, int]
"""A ``_Row`` followed by the user's index and the row's sequence number in the user's book."""


def _months() -> Iterator[dt.date]:
    first = DEMO_FIRST_DATE
    while first <= DEMO_LAST_DATE:
        yield first
        first = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)


def _month_end(first: dt.date) -> dt.date:
    following = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return min(following - dt.timedelta(days=1), DEMO_LAST_DATE)


def _payee_pool(names: tuple[str, ...]) -> tuple[str, ...]:
    """Names as a bank statement shows them: mostly clean, sometimes shouting with a store
    number (one fixed number per merchant, from a checksum so it never changes)."""
    pool: list[str] = []
    for name in names:
        store = zlib.crc32(name.encode()) % 9000 + 1000
        pool += [name] * 8 + [name.upper(), f"{name.upper()} {store}"]
    return tuple(pool)


@dataclass
class _Book:
    """The rows of one persona, built month by month."""

    persona: _Persona
    rng: random.Random
    rows: list[_Row] = field(default_factory=list)
    pairs: int = 0
    pools: dict[str, tuple[str, ...]] = field(init=False)
    """Each category's payees as statements spell them (see ``_payee_pool``)."""

    def __post_init__(self) -> None:
        self.pools = {cat: _payee_pool(names) for cat, names in self.persona.merchants.items()}

    def add(self, day: dt.date, account: str, cents: int, payee: str, category: str | None,
            memo: str | None = None) -> None:
        if day <= DEMO_LAST_DATE:
            self.rows.append((day.toordinal(), account, cents, payee, memo, category, None))

    def transfer(self, day: dt.date, source: str, target: str, cents: int, memo: str) -> None:
        """Both legs, marked as a transfer and linked through a shared pair number."""
        if day > DEMO_LAST_DATE or cents <= 0:
            return
        names = {s.key: s.name for s in self.persona.accounts}
        pair, ordinal = self.pairs, day.toordinal()
        self.rows.append((ordinal, source, -cents, f"Transfer to {names[target]}", memo, None,
                          pair))
        self.rows.append((ordinal, target, cents, f"Transfer from {names[source]}", memo, None,
                          pair))
        self.pairs += 1

    def payee(self, category: str) -> str:
        pool = self.pools[category]
        return pool[self.rng.randrange(len(pool))]


def _price(bill: _Bill, day: dt.date) -> int:
    cents = [price for start, price in bill.prices if start <= day][-1]
    return cents * 135 // 100 if bill.seasonal and day.month in (11, 12, 1, 2, 3) else cents


def _bill_day(first: dt.date, day: int, *, weekday_only: bool) -> dt.date:
    date = first.replace(day=min(day, 28))
    while weekday_only and date.weekday() >= 5:  # salaries arrive on the Friday before
        date -= dt.timedelta(days=1)
    return date


def _bills(book: _Book, first: dt.date) -> None:
    for bill in (*book.persona.bills, *([book.persona.fee] if book.persona.fee else [])):
        if bill.months and first.month not in bill.months:
            continue
        income = bill.category == "Salary"
        day = _bill_day(first, bill.day, weekday_only=income)
        cents = _price(bill, day)
        book.add(day, bill.account, cents if income else -cents, bill.payee, bill.category,
                 bill.memo)


def _habits(book: _Book, first: dt.date) -> None:
    """Everyday purchases on random days; some are refunded later the same month.

    "Uncategorised" purchases get no category at all, like rows no rule has matched yet.
    """
    last = _month_end(first)
    rng = book.rng
    for habit in book.persona.habits:
        category = None if habit.category == UNCATEGORISED else habit.category
        count = int(habit.per_month) + (rng.random() < habit.per_month % 1)
        count = max(0, count + rng.randint(-1, 1)) if habit.per_month >= 2 else count
        for _ in range(count):
            day = first + dt.timedelta(days=rng.randrange((last - first).days + 1))
            account = "card" if rng.random() < habit.card_share else "checking"
            cents = rng.randint(habit.lo, habit.hi)
            payee = book.payee(habit.category)
            book.add(day, account, -cents, payee, category, _card_memo(rng, account))
            if rng.random() < habit.refund_rate:
                back = min(day + dt.timedelta(days=rng.randint(3, 12)), last)
                book.add(back, account, cents, payee, category, "Refund")


def _card_memo(rng: random.Random, account: str) -> str | None:
    """Some debit-card purchases carry the card's reference; card statements carry none."""
    if account == "card" or rng.random() < 0.6:
        return None
    return f"Debit card {rng.randrange(10_000, 99_999)}"


def _trip(book: _Book, start: dt.date, place: str, restaurants: tuple[str, ...]) -> None:
    """Flight and stay booked ahead, meals there, and the card's foreign-currency fee."""
    rng, persona = book.rng, book.persona
    booked = start - dt.timedelta(days=rng.randint(20, 45))
    flight = rng.randint(140_00, 420_00)
    stay = rng.randint(380_00, 920_00)
    spent = flight + stay
    book.add(booked, "card", -flight, book.pools["Travel"][0], "Travel", f"Flights {place}")
    book.add(booked + dt.timedelta(days=2), "card", -stay, rng.choice(("Booking.com", "Airbnb")),
             "Travel", f"Stay {place}")
    for offset in range(rng.randint(3, 5)):
        meal = rng.randint(22_00, 95_00)
        spent += meal
        book.add(start + dt.timedelta(days=offset), "card", -meal, rng.choice(restaurants),
                 "Dining Out", place)
    if persona.fx_fee_bp:
        fee = spent * persona.fx_fee_bp // 10_000
        book.add(start + dt.timedelta(days=6), "card", -fee, "Non-sterling transaction fee",
                 "Bank Fees")


@dataclass
class _Balances:
    """Running balances of the accounts whose interest depends on them."""

    savings: int
    loan: int


def _financial(book: _Book, first: dt.date, state: _Balances) -> None:
    """Savings and investment transfers, loan repayment and interest, savings interest."""
    persona, specs = book.persona, {s.key: s for s in book.persona.accounts}
    last = _month_end(first)
    book.transfer(_bill_day(first, 26, weekday_only=False), "checking", "savings",
                  persona.savings_transfer, "Monthly savings")
    if first.replace(day=26) <= DEMO_LAST_DATE:
        state.savings += persona.savings_transfer
    if persona.invest_transfer:
        book.transfer(_bill_day(first, 27, weekday_only=False), "checking", "invest",
                      persona.invest_transfer, "Monthly investment")
    if "loan" in specs:
        book.transfer(_bill_day(first, 15, weekday_only=False), "checking", "loan",
                      persona.loan_payment, "Car loan instalment")
        charge = -state.loan * specs["loan"].rate_bp // 120_000
        state.loan += persona.loan_payment - charge
        book.add(first.replace(day=28), "loan", -charge, specs["loan"].institution,
                 "Loan Interest", "Interest")
    if last < DEMO_LAST_DATE:  # interest is credited on the last day of a full month
        interest = state.savings * specs["savings"].rate_bp // 120_000
        state.savings += interest
        book.add(last, "savings", interest, specs["savings"].institution, "Interest",
                 "Interest credited")


def _one_offs(book: _Book) -> None:
    persona = book.persona
    for day, category, payee, cents in persona.big_purchases:
        book.add(day, "card", -cents, payee, category)
    for day, payee, cents in persona.other_income:
        book.add(day, "checking", cents, payee, "Other Income")
    for start, place, restaurants in persona.trips:
        _trip(book, start, place, restaurants)


def _repayment_plan(book: _Book) -> list[tuple[dt.date, int]]:
    """On the 5th, the card's balance at the end of last month is paid from checking."""
    by_month: dict[tuple[int, int], int] = {}
    for ordinal, account, cents, *_ in book.rows:
        if account == "card":
            day = dt.date.fromordinal(ordinal)
            by_month[(day.year, day.month)] = by_month.get((day.year, day.month), 0) + cents
    plan, owed = [], 0
    for first in _months():
        if owed < 0:
            plan.append((first.replace(day=5), -owed))
            owed = 0
        owed += by_month.get((first.year, first.month), 0)
    return plan


def _base_rows(persona: _Persona, rng: random.Random) -> _Book:
    specs = {s.key: s for s in persona.accounts}
    book = _Book(persona, rng)
    state = _Balances(specs["savings"].opening, specs["loan"].opening if "loan" in specs else 0)
    for first in _months():
        _bills(book, first)
        _habits(book, first)
        _financial(book, first, state)
    _one_offs(book)
    # this morning's coffee: every user's latest transaction is on DEMO_LAST_DATE
    book.add(DEMO_LAST_DATE, "card", -rng.randint(280, 520), book.payee("Coffee"), "Coffee")
    return book


_EVERYDAY = (("Groceries", 30, 1_200, 9_500), ("Coffee", 25, 280, 650),
             ("Dining Out", 15, 1_800, 8_500), ("Public Transport", 10, 290, 2_900),
             ("Household", 12, 500, 6_000), ("Entertainment", 8, 900, 6_500))


def _extra_rows(books: list[_Book], count: int, rng: random.Random) -> None:
    """``count`` more everyday purchases, spread evenly over the users and the period."""
    first, days = DEMO_FIRST_DATE.toordinal(), (DEMO_LAST_DATE - DEMO_FIRST_DATE).days + 1
    table = [(cat, lo, hi) for cat, weight, lo, hi in _EVERYDAY for _ in range(weight)]
    for index in range(count):
        book = books[index % len(books)]
        category, lo, hi = table[rng.randrange(len(table))]
        account = "card" if rng.random() < 0.6 else "checking"
        book.rows.append((first + rng.randrange(days), account, -rng.randint(lo, hi),
                          book.payee(category), None, category, None))


# ---------------------------------------------------------------- loading
@dataclass(frozen=True)
class DemoSummary:
    """What ``build_demo`` built (``describe()`` says it in a sentence)."""

    database: str
    users: tuple[str, ...]
    accounts: int
    transactions: int
    budgets: int
    first_date: dt.date
    last_date: dt.date
    seconds: float

    def describe(self) -> str:
        """One paragraph for people: what was built and how long it took."""
        return (
            f"Built a demo ledger in {self.database}: {len(self.users)} users "
            f"({', '.join(self.users)}), {self.accounts} accounts, {self.transactions:,} "
            f"transactions and {self.budgets} monthly budgets from {self.first_date} to "
            f"{self.last_date}, in {self.seconds:.1f} s."
        )


def build_demo(
    url_or_path: str,
    *,
    seed: int = 7,
    users: int = 2,
    transactions: int | None = None,
    replace: bool = False,
) -> DemoSummary:
    """Build the demo ledger into an empty database (a path means a SQLite file).

    Args:
        url_or_path: a SQLAlchemy URL or a SQLite file path.
        seed: the random seed; the same seed and arguments give the same ledger.
        users: how many demo users (1 to ``MAX_USERS``).
        transactions: pad to exactly this many transactions with more everyday purchases;
            ``None`` keeps the natural volume (about 1,200 per user).
        replace: delete an existing ledger first (the SQLite file, or every ledger table);
            only once the arguments are known to be good, so a typo never costs a ledger.

    Raises:
        ValueError: bad ``users``/``transactions``, the database already has users, or no
            data key for its memos (a PostgreSQL URL without ``FINCHAT_DATA_KEY``).
    """
    started = time.perf_counter()
    if not 1 <= users <= MAX_USERS:
        raise ValueError(f"users must be between 1 and {MAX_USERS}, got {users}")
    backend = "sqlite" if "://" not in url_or_path else make_url(url_or_path).get_backend_name()
    try:
        current_keyring(backend=backend)
    except CryptoError as exc:
        raise ValueError(str(exc)) from None
    rng = random.Random(seed)
    personas = _PERSONAS[:users]
    books = [_base_rows(persona, rng) for persona in personas]
    base = sum(len(b.rows) + 2 * len(_repayment_plan(b)) for b in books)
    if transactions is not None and transactions < base:
        raise ValueError(f"transactions must be at least {base} (the natural volume) for "
                         f"{users} users, got {transactions}")
    _extra_rows(books, (transactions or base) - base, rng)
    for book in books:
        for day, cents in _repayment_plan(book):
            book.transfer(day, "checking", "card", cents, "Card repayment")
    if transactions is not None and sum(len(b.rows) for b in books) != transactions:
        # extra purchases only deepen card debt, so the repayment months cannot change
        raise RuntimeError("demo generator bug: the padded volume missed its target")
    if replace:
        _delete_ledger(url_or_path)
    engine = make_engine(url_or_path)
    try:
        create_schema(engine)
        _refuse_non_empty(engine)
        count = _load(engine, books)
    finally:
        engine.dispose()
    return DemoSummary(
        database=url_or_path if "://" not in url_or_path else engine.url.render_as_string(),
        users=tuple(p.name for p in personas),
        accounts=sum(len(p.accounts) for p in personas),
        transactions=count,
        budgets=sum(len(p.budgets) for p in personas),
        first_date=dt.date.fromordinal(min(r[0] for b in books for r in b.rows)),
        last_date=dt.date.fromordinal(max(r[0] for b in books for r in b.rows)),
        seconds=time.perf_counter() - started,
    )


def _delete_ledger(url_or_path: str) -> None:
    if "://" not in url_or_path:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{Path(url_or_path).expanduser()}{suffix}").unlink(missing_ok=True)
        return
    engine = make_engine(url_or_path)
    try:
        Base.metadata.drop_all(engine)
    finally:
        engine.dispose()


def _refuse_non_empty(engine: Engine) -> None:
    with engine.connect() as conn:
        if conn.scalar(select(func.count()).select_from(User)):
            raise ValueError(f"{engine.url.render_as_string()} already has users; "
                             "the demo needs an empty ledger")


def _load(engine: Engine, books: list[_Book]) -> int:
    """Users, accounts and budgets through the ORM; transactions in bulk, ids in date order.

    Indexes are dropped during the load and rebuilt after it (faster), in name order: the
    schema's own creation order comes from a set and would make two files differ, so SQLite
    files are also vacuumed to lay pages out from that fixed order.
    """
    indexes = sorted((ix for table in Base.metadata.sorted_tables for ix in table.indexes),
                     key=lambda ix: str(ix.name))
    with engine.begin() as conn:
        for index in indexes:
            index.drop(conn)
    with session_factory(engine)() as session:
        ids = [_create_persona(session, book.persona) for book in books]
        session.commit()
    rows = sorted(
        ((*row, u, seq) for u, book in enumerate(books) for seq, row in enumerate(book.rows)),
        key=lambda row: (row[0], row[7], row[8]),
    )
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(text("PRAGMA cache_size=-262144"))
        pairs = _insert_transactions(conn, rows, books, ids)
        _link_transfers(conn, pairs)
        for index in indexes:
            index.create(conn)
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT setval(pg_get_serial_sequence('transactions', 'id'), "
                              "(SELECT max(id) FROM transactions))"))
    if engine.dialect.name == "sqlite":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM"))
    return len(rows)


def _create_persona(session: Session, persona: _Persona) -> _Ids:
    """The user, accounts and budgets; returns (user id, account ids, category ids)."""
    user = create_user(session, persona.name, currency=persona.currency,
                       opened_on=DEMO_FIRST_DATE - dt.timedelta(days=1), created_at=_CREATED_AT)
    accounts: dict[str, int] = {}
    for spec in persona.accounts:
        if spec.name == DEFAULT_ACCOUNT:
            account = session.scalars(select(Account).where(
                Account.user_id == user.id, Account.name == DEFAULT_ACCOUNT)).one()
            account.opening_balance = Decimal(spec.opening).scaleb(-2)
            account.institution, account.number_last4 = spec.institution, spec.last4
        else:
            account = add_account(
                session, user, spec.name, kind=spec.kind, currency=persona.currency,
                opened_on=DEMO_FIRST_DATE - dt.timedelta(days=1),
                opening_balance=Decimal(spec.opening).scaleb(-2),
                institution=spec.institution, number_last4=spec.last4)
        accounts[spec.key] = account.id
    cats = {name: category_id for name, category_id in session.execute(
        select(Category.name, Category.id).where(Category.user_id == user.id))}
    session.add_all(Budget(user_id=user.id, category_id=cats[name],
                           amount=Decimal(cents).scaleb(-2))
                    for name, cents in persona.budgets.items())
    session.flush()
    return user.id, accounts, cats


_COLUMNS = ("id", "user_id", "account_id", "date", "amount", "currency", "payee", "memo",
            "category_id", "source_id", "is_transfer")
_MEMO_CONTEXT = Transaction.__table__.c.memo.type.context
_MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}
"""Positional placeholders of the DB-API paramstyles of sqlite3 and psycopg."""


def _insert_transactions(conn: Connection, rows: list[_Sorted], books: list[_Book],
                         ids: list[_Ids]) -> dict[tuple[int, int], list[int]]:
    """Insert ``rows`` (sorted) with ids 1..n; returns {(user, pair): [ids]} for linking.

    Rows go straight to the driver's ``executemany`` with the values already in their stored
    form (integer cents, as ``Cents`` stores them; ISO dates on SQLite; memos encrypted as
    ``EncryptedString`` stores them), skipping SQLAlchemy's per-value conversions, which
    would otherwise be most of a million-row load. Memo nonces derive from each row's source
    id, so the same seed and data key give the same bytes.
    """
    ring = current_keyring(backend=conn.dialect.name)
    assert ring is not None  # required=True raised otherwise
    context = _MEMO_CONTEXT
    mark = _MARKS[conn.dialect.paramstyle]
    sql = (f"INSERT INTO transactions ({', '.join(_COLUMNS)}) "
           f"VALUES ({', '.join([mark] * len(_COLUMNS))})")
    as_text = conn.dialect.name == "sqlite"
    dates: dict[int, object] = {}
    pairs: dict[tuple[int, int], list[int]] = {}
    batch: list[tuple[object, ...]] = []
    for tx_id, (ordinal, account, cents, payee, memo, category, pair, u, seq) in enumerate(
        rows, start=1
    ):
        user_id, accounts, cats = ids[u]
        if pair is not None:
            pairs.setdefault((u, pair), []).append(tx_id)
        day = dates.get(ordinal)
        if day is None:
            day = dates[ordinal] = (dt.date.fromordinal(ordinal).isoformat() if as_text
                                    else dt.date.fromordinal(ordinal))
        persona = books[u].persona
        source_id = f"demo:{persona.name}:{seq:07d}"
        if memo:
            memo = ring.encrypt(memo, context, nonce_seed=source_id.encode())
        batch.append((tx_id, user_id, accounts[account], day, cents, persona.currency, payee,
                      memo, cats[category] if category else None, source_id,
                      pair is not None))
        if len(batch) == _CHUNK:
            conn.exec_driver_sql(sql, batch)
            batch = []
    if batch:
        conn.exec_driver_sql(sql, batch)
    return pairs


def _link_transfers(conn: Connection, pairs: dict[tuple[int, int], list[int]]) -> None:
    table = Transaction.__table__
    links = [{"leg": a, "other": b} for a, b in pairs.values()]
    links += [{"leg": b, "other": a} for a, b in pairs.values()]
    links.sort(key=lambda link: link["leg"])
    statement = (update(table).where(table.c.id == bindparam("leg"))
                 .values(transfer_id=bindparam("other")))
    conn.execute(statement, links)
