"""Errors of importing and manual entry: each carries a message a person can act on.

``ImportRejected`` has subclasses for the cases a caller answers differently (an HTTP API:
404, 413, 409); the CLI prints them all the same way."""

from __future__ import annotations

from collections.abc import Sequence

from ledger.importing.records import RowError


class ImportRejected(Exception):
    """The file was not imported and nothing was written; ``str()`` says why in one line."""

    def __init__(self, message: str, errors: Sequence[RowError] = ()):
        super().__init__(message)
        self.errors = list(errors)


class ImportNotFound(ImportRejected):
    """No such account or import batch for this user (another user's looks the same)."""


class ImportTooLarge(ImportRejected):
    """The file is larger than ``ImportLimits.max_bytes``; found before the file is read."""


class ImportConflict(ImportRejected):
    """The database refused the write, typically because another import into the same
    account committed first; nothing was written, and trying again may succeed."""


class EntryError(ValueError):
    """A manual entry (or edit) that fails validation, naming the field to fix."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
