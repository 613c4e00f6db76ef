"""Cross-validated quality of the learned categoriser.

    /tmp/venv1/bin/python bench/bench_categorise.py

Two ledgers: the demo ledger (``ledger.demo``, each user separately) and a synthetic one
whose payees carry the noise of real card descriptors (processor prefixes, store numbers,
city and state, references, truncation at 22 characters, random case), passed through the
importer's payee cleaning as an import would. Each is scored with 5-fold cross-validation
twice: random folds (the next month of a known ledger) and folds by merchant (merchants
never seen in training: the true merchant for the synthetic set, the cleaned payee for the
demo). Abstentions below the confidence threshold count as errors in accuracy
and macro-F1; coverage and accuracy-when-confident are reported beside them, with a sweep of
thresholds on the noisy ledger.
"""

from __future__ import annotations

import random
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from ledger.classifier import (
    CONFIDENCE_THRESHOLD,
    Evaluation,
    Example,
    evaluate,
    training_data,
)
from ledger.db import make_engine, session_factory
from ledger.demo import build_demo
from ledger.importing.normalise import clean_payee
from ledger.models import User

MERCHANTS: dict[str, tuple[tuple[str, ...], int, int]] = {
    # category: (merchants, lowest and highest amount in cents)
    "Groceries": (("TESCO STORES", "SAINSBURYS S/MKT", "LIDL GB", "ALDI STORES", "WAITROSE",
                   "CO-OP GROUP", "MORRISONS", "ASDA SUPERSTORE"), 300, 12000),
    "Coffee": (("PRET A MANGER", "COSTA COFFEE", "STARBUCKS", "CAFFE NERO", "BLUE BOTTLE",
                "GAILS BAKERY"), 200, 900),
    "Dining Out": (("WAGAMAMA", "NANDOS", "PIZZA EXPRESS", "DISHOOM", "FIVE GUYS",
                    "HONEST BURGERS", "THE IVY"), 900, 9000),
    "Public Transport": (("TFL TRAVEL CH", "TRAINLINE", "SOUTHERN RAIL", "NATIONAL EXPRESS"),
                         150, 9000),
    "Taxi": (("UBER TRIP", "BOLT.EU", "ADDISON LEE", "FREE NOW"), 600, 4000),
    "Fuel": (("SHELL", "BP", "ESSO", "TEXACO"), 2000, 9000),
    "Subscriptions": (("NETFLIX.COM", "SPOTIFY", "DISNEY PLUS", "AUDIBLE", "NYTIMES",
                       "ICLOUD STORAGE"), 99, 1800),
    "Utilities": (("OCTOPUS ENERGY", "THAMES WATER", "BRITISH GAS", "EDF ENERGY"), 2500, 15000),
    "Internet": (("BT BROADBAND", "VIRGIN MEDIA", "SKY DIGITAL"), 2500, 6000),
    "Clothing": (("UNIQLO", "ZARA", "H&M", "MARKS&SPENCER", "JOHN LEWIS"), 1500, 15000),
    "Electronics": (("CURRYS", "APPLE STORE", "ARGOS", "CEX"), 2000, 150000),
    "Household": (("IKEA", "B&Q", "WILKO", "DUNELM", "ROBERT DYAS"), 500, 30000),
    "Pharmacy": (("BOOTS", "SUPERDRUG", "LLOYDS PHARMACY"), 300, 4000),
    "Sport": (("PUREGYM", "DECATHLON", "SPORTS DIRECT", "BETTER LEISURE"), 1000, 8000),
    "Entertainment": (("ODEON", "VUE CINEMA", "TICKETMASTER", "STEAM PURCHASE"), 800, 12000),
}
INCOME = {"Salary": ("ACME LTD SALARY", "BRIGHTWELL PAYROLL"),
          "Interest": ("INTEREST PAID", "MARCUS INTEREST")}
_PREFIXES = ("", "", "", "SQ *", "PAYPAL *", "TST* ", "CARD PAYMENT TO ", "POS ", "CONTACTLESS ")
_CITIES = ("LONDON", "MANCHESTER", "LEEDS", "BRISTOL", "SAN FRANCISCO CA", "NEW YORK NY")


def noisy_ledger(
    rows: int = 4000, seed: int = 3
) -> tuple[list[Example], list[int], list[str]]:
    """``rows`` labelled examples whose payees look like raw card descriptors, cleaned, and
    the true merchant of each (for folds by merchant)."""
    rng = random.Random(seed)
    names = sorted(MERCHANTS) + sorted(INCOME)
    examples: list[Example] = []
    labels: list[int] = []
    merchants_seen: list[str] = []
    for _ in range(rows):
        if rng.random() < 0.05:
            category = rng.choice(sorted(INCOME))
            merchant, cents = rng.choice(INCOME[category]), rng.randint(100, 400_000)
            raw = merchant
        else:
            category = rng.choice(sorted(MERCHANTS))
            merchants, low, high = MERCHANTS[category]
            merchant, cents = rng.choice(merchants), -rng.randint(low, high)
            raw = _descriptor(rng, merchant)
        examples.append(Example(clean_payee(raw), None, Decimal(cents) / 100))
        labels.append(names.index(category))
        merchants_seen.append(merchant)
    return examples, labels, merchants_seen


def _descriptor(rng: random.Random, merchant: str) -> str:
    parts = [rng.choice(_PREFIXES) + merchant]
    if rng.random() < 0.5:
        parts.append(str(rng.randint(100, 99999)))
    if rng.random() < 0.4:
        parts.append(rng.choice(_CITIES))
    if rng.random() < 0.2:
        parts.append(f"REF {rng.randint(10**5, 10**9)}")
    text = " ".join(parts)
    if rng.random() < 0.3:
        text = text[:22]  # card networks cut the merchant name field
    return text.lower() if rng.random() < 0.15 else text


def _line(label: str, result: Evaluation, seconds: float) -> str:
    return (f"{label:26} {result.split:16} rows {result.rows:5}  cats {result.categories:2}  "
            f"acc {result.accuracy:.3f}  macro-F1 {result.macro_f1:.3f}  "
            f"coverage {result.coverage:.3f}  acc-when-sure {result.accuracy_when_confident:.3f}"
            f"  ({seconds:.1f} s)")


def _score(label: str, examples: list[Example], labels: list[int],
           groups: list[str] | None = None) -> None:
    for grouped in (False, True):
        started = time.perf_counter()
        result = evaluate(examples, labels, group_by_payee=grouped,
                          groups=groups if grouped else None)
        print(_line(label, result, time.perf_counter() - started))


def main() -> int:
    print(f"threshold {CONFIDENCE_THRESHOLD}; 5-fold cross-validation; abstentions count as "
          "errors in acc and macro-F1")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "demo.db"
        build_demo(str(path))
        engine = make_engine(str(path))
        with session_factory(engine)() as session:
            users = [(u.id, u.name) for u in session.query(User).order_by(User.id)]
            data = {name: training_data(session, user_id) for user_id, name in users}
        engine.dispose()
    for name, (examples, labels) in data.items():
        _score(f"demo ledger: {name}", examples, labels)
    examples, labels, merchants = noisy_ledger()
    _score("noisy descriptors", examples, labels, merchants)
    print("threshold sweep, noisy descriptors, folds by merchant (the hard case):")
    for threshold in (0.3, 0.5, 0.7, 0.9):
        result = evaluate(examples, labels, threshold=threshold, groups=merchants)
        print(f"  threshold {threshold}: acc {result.accuracy:.3f}  macro-F1 "
              f"{result.macro_f1:.3f}  coverage {result.coverage:.3f}  acc-when-sure "
              f"{result.accuracy_when_confident:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
