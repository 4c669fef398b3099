"""Whole result sets out of the store as CSV, JSON Lines or XLSX, batch by batch from `Store.scan`.

The same writers serve `yuqing export` (to a file, atomically) and the web app (`stream`, the bytes
of the file for an HTTP response), so a download and an export are the same file.

- CSV starts with a UTF-8 byte-order mark and uses CRLF rows: Excel opens a BOM-less UTF-8 CSV in
  the system's legacy code page (GBK on a Chinese Windows) and garbles the Chinese.
- A text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`,
  so a spreadsheet shows the text instead of running it as a formula (OWASP "CSV injection"):
  crawled text is written by strangers. The same cells are written to XLSX, and there always as
  strings, never formulas.
- XLSX is written by XlsxWriter in constant-memory mode (rows flushed as written). A cell holds at
  most 32,767 characters (Excel's limit): longer content is cut there; past 1,048,575 rows a sheet
  is full and the next one begins.
"""
from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from yuqing.model import Mention

FORMATS = ("csv", "jsonl", "xlsx")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
COLUMNS = ("id", "published_at", "source", "author", "title", "content", "url", "polarity", "sentiment", "risk",
           "institutions", "negative_entities", "categories", "keywords", "engagement", "platform", "platform_id",
           "repost_of")
_NUMBERS = frozenset({"sentiment", "risk", "engagement"})
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
LIST_SEPARATOR = "; "
XLSX_MAX_CELL = 32_767
XLSX_SHEET_ROWS = 1_048_575  # Excel's 1,048,576 rows less the header
_CHUNK = 64 * 1024

Cell = str | float | int | None


def safe_cell(text: str) -> str:
    """`text` as a spreadsheet shows it and never evaluates it."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def row(m: Mention) -> list[Cell]:
    """One mention as the cells of `COLUMNS`: numbers as numbers (None when not analysed), lists
    joined by `LIST_SEPARATOR`, times ISO 8601 with their offset, every text cell safe."""
    data = m.to_dict()
    cells: list[Cell] = []
    for name in COLUMNS:
        value = data[name]
        if name in _NUMBERS:
            cells.append(value)
        elif isinstance(value, list):
            cells.append(safe_cell(LIST_SEPARATOR.join(value)))
        else:
            cells.append(safe_cell(value or ""))
    return cells


def csv_chunks(batches: Iterable[list[Mention]]) -> Iterator[str]:
    """The CSV file as text: the byte-order mark and header, then one chunk per batch."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # csv's default dialect: quoted as needed, CRLF rows, as Excel writes
    buffer.write("\ufeff")
    writer.writerow(COLUMNS)
    yield buffer.getvalue()
    for batch in batches:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(["" if c is None else c for c in row(m)] for m in batch)
        yield buffer.getvalue()


def jsonl_chunks(batches: Iterable[list[Mention]]) -> Iterator[str]:
    """JSON Lines, one mention per line, every field as stored (`Mention.to_dict`), UTF-8 unescaped."""
    for batch in batches:
        yield "".join(json.dumps(m.to_dict(), ensure_ascii=False) + "\n" for m in batch)


def write_xlsx(batches: Iterable[list[Mention]], path: Path) -> None:
    """An XLSX workbook at `path`, one row per mention, in constant memory."""
    import xlsxwriter  # only an XLSX export pays for it

    # Strings stay strings: XlsxWriter would otherwise turn "=..." into formulas and URLs into links.
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False,
                                               "strings_to_urls": False, "strings_to_numbers": False})
    try:
        sheet = None
        line = XLSX_SHEET_ROWS
        for batch in batches:
            for m in batch:
                if line == XLSX_SHEET_ROWS:
                    sheet = workbook.add_worksheet()
                    sheet.write_row(0, 0, COLUMNS)
                    line = 0
                line += 1
                assert sheet is not None
                for col, cell in enumerate(row(m)):
                    if isinstance(cell, str):
                        sheet.write_string(line, col, cell[:XLSX_MAX_CELL])
                    elif cell is not None:
                        sheet.write_number(line, col, cell)
        if sheet is None:  # no mention matched: the header alone
            workbook.add_worksheet().write_row(0, 0, COLUMNS)
    finally:
        workbook.close()


def xlsx_chunks(batches: Iterable[list[Mention]]) -> Iterator[bytes]:
    """The XLSX file as bytes. A workbook is a zip whose directory comes last, so it is built in a
    temporary file first (rows in constant memory), then sent, then deleted."""
    fd, name = tempfile.mkstemp(suffix=".xlsx", prefix="yuqing-export-")
    os.close(fd)
    try:
        write_xlsx(batches, Path(name))
        with open(name, "rb") as f:
            while chunk := f.read(_CHUNK):
                yield chunk
    finally:
        os.unlink(name)


def stream(fmt: str, batches: Iterable[list[Mention]]) -> Iterator[bytes]:
    """The export file in `fmt` as bytes, for an HTTP response (`MEDIA_TYPES[fmt]`)."""
    if fmt == "xlsx":
        return xlsx_chunks(batches)
    chunks = csv_chunks(batches) if fmt == "csv" else jsonl_chunks(batches)
    return (chunk.encode("utf-8") for chunk in chunks)


def counted(batches: Iterable[list[Mention]], on_batch: Callable[[int], None]) -> Iterator[list[Mention]]:
    """`batches`, calling `on_batch(len(batch))` as each one passes (a progress bar, a count)."""
    for batch in batches:
        yield batch
        on_batch(len(batch))


def export_file(fmt: str, batches: Iterable[list[Mention]], path: Path) -> None:
    """Write the export to `path` atomically: a temporary file beside it, renamed over it once whole,
    so an interrupted export leaves no half file (and an older export stays as it was)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (one of: {', '.join(FORMATS)})")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        if fmt == "xlsx":
            write_xlsx(batches, partial)
        else:
            with partial.open("wb") as f:
                for chunk in stream(fmt, batches):
                    f.write(chunk)
        with partial.open("rb+") as f:
            os.fsync(f.fileno())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


__all__ = ["COLUMNS", "FORMATS", "MEDIA_TYPES", "counted", "csv_chunks", "export_file", "jsonl_chunks", "row",
           "safe_cell", "stream", "write_xlsx", "xlsx_chunks"]
