"""First look at an uploaded file: size, binary content, format and text encoding.

Everything here runs before any parser sees the bytes, so an oversized file, a spreadsheet
saved in the wrong format or a binary blob is refused with one sentence, not a parser trace.
"""

from __future__ import annotations

import codecs
from typing import Literal

from ledger.importing.errors import ImportRejected, ImportTooLarge
from ledger.importing.records import ImportLimits

FileFormat = Literal["csv", "ofx"]

_MAGIC: dict[bytes, str] = {
    b"PK\x03\x04": "a ZIP archive (an .xlsx workbook?)",
    b"\xd0\xcf\x11\xe0": "an Excel .xls workbook",
    b"%PDF": "a PDF document",
    b"\x1f\x8b": "a gzip archive",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"SQLite format 3": "a SQLite database",
}
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def check_size(size: int, filename: str, limits: ImportLimits) -> None:
    """Refuse a file of ``size`` bytes over the limit, before it is read.

    Raises:
        ImportTooLarge: with the limit and what to do instead.
    """
    if size > limits.max_bytes:
        raise ImportTooLarge(
            f"{filename} is {size:,} bytes; the limit is {limits.max_bytes:,} "
            "(split the export into smaller date ranges)"
        )


def check_content(data: bytes, filename: str, limits: ImportLimits) -> None:
    """Refuse files that are too large, empty, or not text.

    Raises:
        ImportRejected: with the reason and what to do instead.
    """
    check_size(len(data), filename, limits)
    if not data.strip():
        raise ImportRejected(f"{filename} is empty")
    for magic, what in _MAGIC.items():
        if data.startswith(magic):
            raise ImportRejected(f"{filename} is {what}, not a CSV or OFX file; export it as CSV")
    # NUL anywhere, not only near the start: no bank writes one into a CSV or OFX file, and
    # PostgreSQL text cannot hold it (an id cell with one failed the whole insert there).
    if not data.startswith(_UTF16_BOMS) and b"\x00" in data:
        raise ImportRejected(f"{filename} is a binary file, not a CSV or OFX export")


def detect_format(data: bytes) -> FileFormat:
    """``ofx`` when the file starts like OFX/QFX (SGML header or XML declaration), else ``csv``.

    The content decides, not the extension: banks name QFX files ``.qbo`` or ``.ofx``
    interchangeably, and a renamed CSV is still a CSV.
    """
    head = data[:2048].lstrip(codecs.BOM_UTF8).lstrip().upper()
    if head.startswith((b"OFXHEADER", b"<OFX>")):
        return "ofx"
    if head.startswith(b"<?XML") and b"<?OFX" in head:
        return "ofx"
    return "csv"


def decode_text(data: bytes) -> tuple[str, str]:
    """The text of ``data`` and the encoding it was read with.

    A byte-order mark decides (UTF-8 or UTF-16); otherwise strict UTF-8, then cp1252 (what
    Windows-made exports with ``£``/``€``/umlauts use), then Latin-1, which accepts any bytes.
    """
    if data.startswith(_UTF16_BOMS):
        return data.decode("utf-16"), "utf-16"
    body = data.removeprefix(codecs.BOM_UTF8)
    candidates = ("utf-8", "cp1252") if body is data else ("utf-8-sig", "cp1252")
    for encoding in candidates:
        try:
            return body.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return body.decode("latin-1"), "latin-1"
