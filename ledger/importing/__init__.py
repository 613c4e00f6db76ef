"""Getting transactions into the ledger: CSV and OFX/QFX files, and manual entry.

``import_path``/``import_bytes`` import a file into one account in one database transaction;
``undo_import`` removes a batch; ``add_transaction``/``edit_transaction``/
``delete_transaction`` are manual entry with the same validation. See ``docs/import.md``.
"""

from ledger.importing.csv_reader import CsvOptions, parse_mapping
from ledger.importing.entry import add_transaction, delete_transaction, edit_transaction
from ledger.importing.errors import (
    EntryError,
    ImportConflict,
    ImportNotFound,
    ImportRejected,
    ImportTooLarge,
)
from ledger.importing.importer import (
    BatchSummary,
    ImportOptions,
    ImportReport,
    find_account,
    import_bytes,
    import_path,
    list_imports,
    undo_import,
)
from ledger.importing.records import ImportLimits, RowError

__all__ = [
    "BatchSummary",
    "CsvOptions",
    "EntryError",
    "ImportConflict",
    "ImportLimits",
    "ImportNotFound",
    "ImportOptions",
    "ImportRejected",
    "ImportReport",
    "ImportTooLarge",
    "RowError",
    "add_transaction",
    "delete_transaction",
    "edit_transaction",
    "find_account",
    "import_bytes",
    "import_path",
    "list_imports",
    "parse_mapping",
    "undo_import",
]
