"""Texts for turns that need no tool: greetings, refusals and clarifying questions.

None of them contains a number: a figure may only come from a tool result.
"""

from __future__ import annotations

from tools.profile import UserProfile

CAPABILITIES = (
    "I can answer questions about your own accounts: balances and net worth, spending by "
    "category, merchant or month, income versus spending, budgets and where they are heading, "
    "and lists of transactions (by merchant, category, account or amount). I can also look up "
    "our product documents, such as savings rates, card fees or how to dispute a payment."
)


def _names(names: list[str], limit: int = 8) -> str:
    """"A, B or C"; a long list is cut with an ellipsis."""
    shown = names[:limit]
    if len(names) > limit:
        return ", ".join(shown) + ", ..."
    if len(shown) <= 1:
        return "".join(shown)
    return ", ".join(shown[:-1]) + " or " + shown[-1]


def help_text(profile: UserProfile) -> str:
    examples = (
        'For example: "How much did I spend on groceries last month?", "What\'s my net worth?", '
        '"Am I on track with my budgets?" or "Show my biggest purchases this year".'
    )
    return f"Hi {profile.user_name}! {CAPABILITIES} {examples}"


def out_of_scope(kind: str) -> str:
    if kind == "write":
        return (
            "I can't make changes: no payments, transfers, cancellations or budget edits. I only "
            "read your ledger. I can show your balances, spending, budgets or transactions, so "
            "you can decide what to do in your banking app."
        )
    if kind == "other_user":
        return (
            "I can only see your own accounts and transactions, not anyone else's. Ask me about "
            "your balances, spending, budgets or transactions."
        )
    return f"That's outside what I can help with. {CAPABILITIES}"


def english_only() -> str:
    return (
        "Sorry, I can only understand questions in English for now. Could you ask that again "
        'in English? For example: "How much did I spend on groceries last month?"'
    )


def clarify_write() -> str:
    return (
        "I can't move money: I only read your ledger. Did you mean to see your balances, or the "
        "transfers between your accounts?"
    )


def clarify_unknown(profile: UserProfile) -> str:
    return (
        "I'm not sure what you mean. You can ask about your spending (for example on "
        f"{_names([c.name for c in profile.categories if c.kind == 'expense'], 4)}), your "
        "balances, your budgets, your income, or list transactions."
    )


def clarify_no_context() -> str:
    return (
        "What would you like me to look at? For example your spending last month, a category, "
        "a merchant or an account."
    )


def clarify_options(what: str, options: tuple[str, ...]) -> str:
    return f"Which {what} do you mean: {_names(list(options))}?"


def unknown_account(name: str, profile: UserProfile) -> str:
    accounts = ", ".join(a.name for a in profile.accounts)
    return f"You have no account called {name} in this ledger. Your accounts are: {accounts}."


def future_period() -> str:
    return (
        "That period hasn't started yet, so there are no transactions for it. I can show where "
        "this month's budgets are heading, or your spending so far."
    )


def missing_tool(name: str) -> str:
    return f"I can't look that up here: the {name} tool is not available in this session."


def invalid_request() -> str:
    return "I couldn't turn that into a valid query. Could you rephrase it?"
