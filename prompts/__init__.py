"""Versioned system prompts: ``system_<version>.md`` files rendered with a user's profile.

A prompt is a ``string.Template`` (``$name`` placeholders), so braces in the text (JSON
examples) need no escaping. A new wording is a new version file, so an evaluation run can name
exactly which prompt it measured.
"""

from __future__ import annotations

import re
from importlib import resources
from string import Template

from tools.profile import CategoryInfo, UserProfile

_PREFIX = "system_"
_SUFFIX = ".md"


def list_versions() -> list[str]:
    """The prompt versions shipped with the package, e.g. ``["v1"]``."""
    names = (entry.name for entry in resources.files(__package__).iterdir())
    return sorted(
        name[len(_PREFIX) : -len(_SUFFIX)]
        for name in names
        if name.startswith(_PREFIX) and name.endswith(_SUFFIX)
    )


def render(version: str, profile: UserProfile) -> str:
    """The system prompt ``version`` filled in with ``profile``.

    Raises:
        ValueError: ``version`` is not a shipped prompt (the message lists the versions).
    """
    if version not in list_versions():
        known = ", ".join(list_versions())
        raise ValueError(f"unknown prompt version {version!r}; available: {known}")
    text = (
        resources.files(__package__)
        .joinpath(f"{_PREFIX}{version}{_SUFFIX}")
        .read_text(encoding="utf-8")
    )
    return Template(text).substitute(
        user_name=_one_line(profile.user_name),
        today=profile.today.isoformat(),
        currency=profile.currency,
        accounts=_accounts(profile),
        categories=_categories(profile.categories),
        budget_categories=", ".join(_one_line(n) for n in profile.budget_categories) or "none",
    )


def _one_line(name: str) -> str:
    """A name as one line: a newline in a user-chosen name must not start a prompt line."""
    return re.sub(r"\s+", " ", name).strip()


def _accounts(profile: UserProfile) -> str:
    lines = [f"- {_one_line(a.name)}: {a.kind}, {a.currency}" for a in profile.accounts]
    return "\n".join(lines) or "- (no accounts)"


def _categories(categories: list[CategoryInfo]) -> str:
    """One line per top-level category with its children, in the profile's order.

    A child whose parent is not in the profile still gets a line of its own.
    """
    tops = {c.name for c in categories if c.parent is None}
    children: dict[str, list[str]] = {}
    for category in categories:
        if category.parent in tops:
            children.setdefault(category.parent, []).append(_one_line(category.name))
    lines = []
    for category in categories:
        if category.parent in tops:
            continue
        marker = " (income)" if category.kind == "income" else ""
        subs = children.get(category.name, [])
        tail = f": {', '.join(subs)}" if subs else ""
        lines.append(f"- {_one_line(category.name)}{marker}{tail}")
    return "\n".join(lines) or "- (no categories)"
