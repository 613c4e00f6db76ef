"""The default two-level category tree that new users and the demo ledger start with."""

from __future__ import annotations

from ledger.models import CategoryKind

DEFAULT_CATEGORIES: dict[str, tuple[CategoryKind, tuple[str, ...]]] = {
    "Income": (CategoryKind.INCOME, ("Salary", "Interest", "Other Income")),
    "Housing": (CategoryKind.EXPENSE, ("Rent", "Utilities", "Internet", "Home Insurance")),
    "Food": (CategoryKind.EXPENSE, ("Groceries", "Dining Out", "Coffee")),
    "Transport": (CategoryKind.EXPENSE, ("Public Transport", "Fuel", "Taxi")),
    "Shopping": (CategoryKind.EXPENSE, ("Clothing", "Electronics", "Household")),
    "Leisure": (CategoryKind.EXPENSE, ("Subscriptions", "Entertainment", "Travel", "Sport")),
    "Health": (CategoryKind.EXPENSE, ("Pharmacy", "Doctor")),
    "Financial": (CategoryKind.EXPENSE, ("Bank Fees", "Loan Interest")),
    "Uncategorised": (CategoryKind.EXPENSE, ()),
}
"""Top-level group -> (kind, children). Names are unique across both levels."""
