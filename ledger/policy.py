"""Who may do what with whose data: the one access policy, as a pure function.

``decide`` takes the actor, the customer whose data is at stake, the action and the consent
grants between them, and returns a ``Decision`` with its reason. It reads no database and no
clock (``now`` is passed in), so every rule is tested as a plain function and every caller
(tools, server, CLI, exports) asks the same question the same way; ``ledger.consent`` loads
the facts and records the decision in the audit log.

The rules:

- everyone may do everything with their own data;
- an advisor reads a customer's data only under an active grant (not revoked, not expired)
  whose scope covers the action: ``summary`` covers balances, totals and budgets,
  ``transactions`` also covers individual transactions (payees, memos); an advisor never
  writes, exports, deletes or manages a customer's consent;
- an administrator handles data-subject requests (export, erasure) and reads audit logs, but
  reads no ledger content without a grant, like an advisor;
- a customer never sees another customer's data;
- only an administrator manages users and roles (``may_manage_users``).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import dataclass


class Role(enum.StrEnum):
    CUSTOMER = "customer"
    ADVISOR = "advisor"
    ADMIN = "admin"


class Scope(enum.StrEnum):
    """What a consent grant lets an advisor read."""

    SUMMARY = "summary"
    TRANSACTIONS = "transactions"


class Action(enum.StrEnum):
    READ_SUMMARY = "read_summary"
    """Balances, spending and income totals, budgets: figures without transaction rows."""
    READ_TRANSACTIONS = "read_transactions"
    """Individual transactions with payees and memos."""
    WRITE = "write"
    EXPORT = "export"
    DELETE = "delete"
    READ_AUDIT = "read_audit"
    MANAGE_CONSENT = "manage_consent"


SCOPE_ACTIONS: dict[Scope, frozenset[Action]] = {
    Scope.SUMMARY: frozenset({Action.READ_SUMMARY}),
    Scope.TRANSACTIONS: frozenset({Action.READ_SUMMARY, Action.READ_TRANSACTIONS}),
}
ADMIN_ACTIONS = frozenset({Action.EXPORT, Action.DELETE, Action.READ_AUDIT})
"""What an administrator may do to another user's data without that user's consent."""


@dataclass(frozen=True)
class Actor:
    user_id: int
    role: Role


@dataclass(frozen=True)
class GrantView:
    """A consent grant as the policy sees it (``ledger.consent`` builds these from rows)."""

    id: int
    customer_id: int
    advisor_id: int
    scope: Scope
    expires_at: dt.datetime
    revoked_at: dt.datetime | None = None

    def active(self, now: dt.datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    """One sentence for logs, the audit entry and (when denied) the caller's error message."""
    grant_id: int | None = None
    """The grant that allowed it, when one did."""

    def __bool__(self) -> bool:
        return self.allowed


def decide(
    actor: Actor,
    customer_id: int,
    action: Action,
    grants: Iterable[GrantView],
    now: dt.datetime,
) -> Decision:
    """May ``actor`` perform ``action`` on the data of ``customer_id`` at ``now``?

    ``grants`` may hold any grants; only those from this customer to this actor count.
    """
    if actor.user_id == customer_id:
        return Decision(True, "own data")
    if actor.role is Role.ADMIN and action in ADMIN_ACTIONS:
        return Decision(True, f"administrator may {action.value} on request")
    if actor.role is Role.CUSTOMER:
        return Decision(False, "customers can only access their own data")
    if action not in SCOPE_ACTIONS[Scope.TRANSACTIONS]:
        return Decision(False, f"{action.value} is reserved to the customer")
    return _by_consent(actor, customer_id, action, list(grants), now)


def may_manage_users(actor: Actor) -> Decision:
    """May ``actor`` list users, create them and change roles? Administrators only; this
    touches nobody's ledger, so it is not an ``Action`` on a customer's data."""
    if actor.role is Role.ADMIN:
        return Decision(True, "administrator")
    return Decision(False, "only an administrator manages users")


def _by_consent(
    actor: Actor, customer_id: int, action: Action, grants: list[GrantView], now: dt.datetime
) -> Decision:
    mine = [g for g in grants if g.advisor_id == actor.user_id and g.customer_id == customer_id]
    active = [g for g in mine if g.active(now)]
    for grant in sorted(active, key=lambda g: g.id):
        if action in SCOPE_ACTIONS[grant.scope]:
            return Decision(True, f"consent grant {grant.id} ({grant.scope.value})", grant.id)
    if active:
        return Decision(False, f"the customer's consent does not cover {action.value}")
    if any(g.revoked_at is not None for g in mine):
        return Decision(False, "the customer revoked their consent")
    if mine:
        return Decision(False, "the customer's consent has expired")
    return Decision(False, "no consent from this customer")
