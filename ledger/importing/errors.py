"""Errors of importing and manual entry: each carries a message a person can act on."""

from __future__ import annotations

from collections.abc import Sequence

from ledger.importing.records import RowError


class ImportRejected(Exception):
    """The file was not imported and nothing was written; ``str()`` says why in one line."""

    def __init__(self, message: str, errors: Sequence[RowError] = ()):
        super().__init__(message)
        self.errors = list(errors)


class EntryError(ValueError):
    """A manual entry (or edit) that fails validation, naming the field to fix."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
