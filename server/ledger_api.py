"""``/api/imports`` and ``/api/transactions``: bank files and manual entries over HTTP.

The routes call the functions behind ``finchat import``, ``finchat imports`` and
``finchat tx`` (``ledger.importing``), so an upload is checked, parsed, de-duplicated and
written all or nothing exactly like a file on the command line, under the same limits, and
an entry is validated like ``tx add``. The user comes from the bearer token, through
``server.access``: writing is reserved to the data's owner (an advisor or administrator
naming a customer gets 403), and an advisor with ``transactions`` consent may list a
customer's imports. Another user's account, import or transaction answers 404 exactly like a
missing one. A rejected
file answers 400 with its bad rows (file, line, field, reason); see ``docs/api.md``.
"""

from __future__ import annotations

import functools
from pathlib import PurePath
from typing import Annotated, Any

from fastapi import FastAPI, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, StrictStr
from starlette.datastructures import FormData, UploadFile

from ledger.importing import (
    BatchSummary,
    CsvOptions,
    EntryError,
    ImportConflict,
    ImportLimits,
    ImportNotFound,
    ImportOptions,
    ImportRejected,
    ImportReport,
    ImportTooLarge,
    RowError,
    add_transaction,
    delete_transaction,
    edit_transaction,
    import_bytes,
    list_imports,
    parse_mapping,
    undo_import,
)
from ledger.importing.entry import EntryView
from ledger.masking import mask_sensitive_text
from server.access import ReadTransactions, Write
from server.bodies import read_json, validated
from server.errors import ApiError
from server.runtime import run_blocking, runtime_of

IMPORTS = "/api/imports"
TRANSACTIONS = "/api/transactions"
BODY_LIMITS = {IMPORTS: ImportLimits().max_bytes + 1024 * 1024}
"""Request body limits above the server-wide one: an upload carries a statement of up to
``ImportLimits.max_bytes``, plus a megabyte for the multipart framing and form fields. The
file itself is then held to the limit exactly, with the CLI's message."""
ROWS_LISTED = 100
"""Bad rows listed in a response; the count covers them all."""

_FORM_FIELDS = ("file", "account", "skip_invalid", "map", "date_format", "negate", "categorise")
_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}
_ENTRY_FIELDS = ("account", "date", "amount", "payee", "memo", "category")
_REQUIRED_ON_EDIT = ("account", "date", "amount", "payee")
"""Fields an edit may change but not clear (``null``)."""
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]


def add_routes(app: FastAPI) -> None:
    """Register this module's endpoints (tagged ``ledger`` in the OpenAPI document)."""
    route = functools.partial(app.add_api_route, tags=["ledger"])
    route(IMPORTS, create_import, methods=["POST"], status_code=201, response_model=None)
    route(IMPORTS, get_imports, methods=["GET"])
    route(IMPORTS + "/{import_id}", delete_import, methods=["DELETE"])
    route(TRANSACTIONS, create_transaction, methods=["POST"], status_code=201)
    route(TRANSACTIONS + "/{transaction_id}", update_transaction, methods=["PATCH"])
    route(TRANSACTIONS + "/{transaction_id}", remove_transaction, methods=["DELETE"],
          status_code=204)


# ---------------------------------------------------------------- imports


async def create_import(request: Request, access: Write) -> JSONResponse:
    """Import an uploaded CSV, OFX or QFX statement into one of the caller's accounts.

    201 with the import's report; 200 with ``already_imported_as`` when the account already
    holds this exact file.
    """
    async with request.form(max_files=1, max_fields=len(_FORM_FIELDS) + 50) as form:
        upload, account, options = _upload(form)
        filename = PurePath(upload.filename or "").name[:255] or "upload"
        data = await upload.read()
    try:
        report = await run_blocking(import_bytes, runtime_of(request).sessions, data,
                                    filename=filename, user_id=access.customer_id,
                                    account=account, options=options)
    except ImportRejected as exc:
        raise _import_error(exc, filename) from None
    return JSONResponse(_report_json(report),
                        status_code=201 if report.already_imported_as is None else 200)


async def get_imports(request: Request, access: ReadTransactions) -> dict[str, Any]:
    """The caller's imports, newest first, with the rows each still has in the ledger."""
    batches = await run_blocking(list_imports, runtime_of(request).sessions,
                                 user_id=access.customer_id)
    return {"data": [_batch_json(batch) for batch in batches]}


async def delete_import(request: Request, access: Write, import_id: Id) -> dict[str, Any]:
    """Undo an import: the batch and every transaction it added, edited ones included."""
    try:
        deleted = await run_blocking(undo_import, runtime_of(request).sessions,
                                     user_id=access.customer_id, batch_id=import_id)
    except ImportNotFound as exc:
        raise ApiError(404, str(exc), param="import_id", code="not_found") from None
    return {"id": import_id, "transactions_deleted": deleted}


def _upload(form: FormData) -> tuple[UploadFile, str, ImportOptions]:
    """The file, the account name and the options of an upload form, like the CLI's."""
    unknown = next((key for key in form if key not in _FORM_FIELDS), None)
    if unknown is not None:
        raise ApiError(400, f"unknown form field {unknown!r}; the fields are "
                       f"{', '.join(_FORM_FIELDS)}", param=unknown, code="invalid_value")
    upload = _single(form, "file")
    if not isinstance(upload, UploadFile):
        raise ApiError(400, "'file' is required: the statement as a multipart file part",
                       param="file", code="missing_required_parameter")
    account = _text(form, "account")
    if not account:
        raise ApiError(400, "'account' is required: the name of one of your accounts",
                       param="account", code="missing_required_parameter")
    mapping = [_as_text(value, "map") for value in form.getlist("map")]
    try:
        csv = CsvOptions(mapping=parse_mapping(mapping), negate=_flag(form, "negate", False),
                         date_format=_text(form, "date_format") or None)
    except ImportRejected as exc:
        raise ApiError(400, str(exc), param="map", code="invalid_value") from None
    return upload, account, ImportOptions(csv=csv,
                                          skip_invalid=_flag(form, "skip_invalid", False),
                                          categorise=_flag(form, "categorise", True))


def _single(form: FormData, name: str) -> UploadFile | str | None:
    values = form.getlist(name)
    if len(values) > 1:
        raise ApiError(400, f"'{name}' is given {len(values)} times", param=name,
                       code="invalid_value")
    return values[0] if values else None


def _as_text(value: UploadFile | str, name: str) -> str:
    if not isinstance(value, str):
        raise ApiError(400, f"'{name}' must be a text field, not a file", param=name,
                       code="invalid_type")
    return value.strip()


def _text(form: FormData, name: str) -> str:
    value = _single(form, name)
    return "" if value is None else _as_text(value, name)


def _flag(form: FormData, name: str, default: bool) -> bool:
    text = _text(form, name).lower()
    if not text:
        return default
    if text in _TRUE | _FALSE:
        return text in _TRUE
    raise ApiError(400, f"'{name}' must be true or false", param=name, code="invalid_value")


def _import_error(exc: ImportRejected, filename: str) -> ApiError:
    """The HTTP answer to a refused import; nothing was written."""
    if isinstance(exc, ImportNotFound):
        error = ApiError(404, str(exc), param="account", code="not_found")
    elif isinstance(exc, ImportTooLarge):
        error = ApiError(413, str(exc), param="file", code="request_too_large")
    elif isinstance(exc, ImportConflict):
        error = ApiError(409, str(exc), code="conflict")
    else:
        error = ApiError(400, str(exc), param="file", code="import_rejected")
    if exc.errors:
        error.body["invalid_rows"] = _rows_json(exc.errors, filename)
        error.body["invalid_row_count"] = len(exc.errors)
    return error


def _rows_json(errors: list[RowError], filename: str) -> list[dict[str, Any]]:
    return [{"file": filename, "line": e.line, "field": e.field, "message": e.message}
            for e in errors[:ROWS_LISTED]]


def _report_json(report: ImportReport) -> dict[str, Any]:
    return {
        "id": report.batch_id,
        "already_imported_as": report.already_imported_as,
        "account": report.account,
        "filename": report.filename,
        "format": report.file_format,
        "rows_read": report.rows_read,
        "rows_added": report.rows_added,
        "rows_duplicate": report.rows_duplicate,
        "rows_invalid": report.rows_invalid,
        "categorised_by_rule": report.categorised_by_rule,
        "categorised_by_model": report.categorised_by_model,
        "categorised_by_default": report.categorised_by_default,
        "details": report.details,
        "notes": report.notes,
        "invalid_rows": _rows_json(report.errors, report.filename),
    }


def _batch_json(batch: BatchSummary) -> dict[str, Any]:
    return {
        "id": batch.id,
        "account": batch.account,
        "filename": batch.filename,
        "format": batch.file_format,
        "created_at": batch.created_at.isoformat() + "Z",
        "rows_read": batch.rows_read,
        "rows_added": batch.rows_added,
        "rows_duplicate": batch.rows_duplicate,
        "rows_invalid": batch.rows_invalid,
        "rows_present": batch.rows_present,
    }


# ---------------------------------------------------------------- transactions


class NewTransaction(BaseModel):
    """A manual entry; ``amount`` is checked by the ledger (a float is refused, never
    rounded: send ``"-12.50"``)."""

    model_config = ConfigDict(extra="forbid")

    account: StrictStr
    date: StrictStr
    amount: Any
    payee: StrictStr
    memo: StrictStr | None = None
    category: StrictStr | None = None
    """Default: the caller's rules and learned model decide."""


class TransactionChanges(BaseModel):
    """The fields to change; ``null`` (or ``""``) clears ``memo`` and ``category``."""

    model_config = ConfigDict(extra="forbid")

    account: StrictStr | None = None
    date: StrictStr | None = None
    amount: Any = None
    payee: StrictStr | None = None
    memo: StrictStr | None = None
    category: StrictStr | None = None


async def create_transaction(request: Request, access: Write) -> dict[str, Any]:
    """Add a transaction to one of the caller's accounts."""
    body = validated(NewTransaction, await read_json(request))
    try:
        view = await run_blocking(add_transaction, runtime_of(request).sessions,
                                  user_id=access.customer_id, **body.model_dump())
    except EntryError as exc:
        raise _entry_error(exc) from None
    return _entry_json(view)


async def update_transaction(request: Request, access: Write, transaction_id: Id
                             ) -> dict[str, Any]:
    """Change the given fields of one of the caller's transactions."""
    body = validated(TransactionChanges, await read_json(request))
    changes = {name: getattr(body, name) for name in _ENTRY_FIELDS
               if name in body.model_fields_set}
    if not changes:
        raise ApiError(400, f"nothing to change: send any of {', '.join(_ENTRY_FIELDS)}",
                       code="missing_required_parameter")
    cleared = next((name for name in _REQUIRED_ON_EDIT if name in changes
                    and changes[name] is None), None)
    if cleared is not None:
        raise ApiError(400, f"{cleared} cannot be cleared", param=cleared,
                       code="invalid_value")
    if changes.get("category") == "":
        changes["category"] = None
    try:
        view = await run_blocking(edit_transaction, runtime_of(request).sessions,
                                  user_id=access.customer_id, transaction_id=transaction_id,
                                  **changes)
    except EntryError as exc:
        raise _entry_error(exc) from None
    return _entry_json(view)


async def remove_transaction(request: Request, access: Write, transaction_id: Id) -> Response:
    """Delete one of the caller's transactions."""
    try:
        await run_blocking(delete_transaction, runtime_of(request).sessions,
                           user_id=access.customer_id, transaction_id=transaction_id)
    except EntryError as exc:
        raise _entry_error(exc) from None
    return Response(status_code=204)


def _entry_error(exc: EntryError) -> ApiError:
    """404 for an id or account the caller does not have, 400 for any other bad field."""
    if exc.field in ("id", "account"):
        param = "transaction_id" if exc.field == "id" else exc.field
        return ApiError(404, str(exc), param=param, code="not_found")
    return ApiError(400, str(exc), param=exc.field, code="invalid_value")


def _entry_json(view: EntryView) -> dict[str, Any]:
    return {
        "id": view.id,
        "date": view.date.isoformat(),
        "account": view.account,
        "amount": str(view.amount),
        "currency": view.currency,
        "payee": view.payee,
        "memo": mask_sensitive_text(view.memo) if view.memo else view.memo,
        "category": view.category,
    }
