"""`yuqing detect`: a `timestamp,value` CSV in, the same rows and columns plus `anomaly_score` out.

Real series are scored as they come: a clock that steps back, repeated timestamps, gaps, missing
or malformed values, a constant series, a single row. Nothing is refused but a file without the
two columns; every odd row is named by its line in the warnings, and a row that cannot be read
(bad timestamp or value, wrong number of fields) keeps its place in the output with score 0."""
from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from alerts.detect.series import NOT_FINITE, SeriesError, Timestamp, analyse_series
from yuqing.lines import decode_line

SCORE_COLUMN = "anomaly_score"


class DetectReport(NamedTuple):
    rows: int  # rows written (every data row of the input)
    warnings: list[str]  # "FILE: line N: what", one per kind of oddity


def _parse_timestamp(text: str) -> Timestamp:
    try:
        return float(text)
    except ValueError:
        pass
    return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)


def _text_lines(raw_lines: Iterable[bytes], src: Path) -> Iterator[str]:
    """The file's lines decoded one by one, so a binary or mis-encoded file is named with its line."""
    for number, raw in enumerate(raw_lines, 1):
        try:
            yield decode_line(raw, number)
        except ValueError as e:
            raise SeriesError(f"{src}: line {number}: {e}; the input must be a UTF-8 CSV of timestamp,value") from None


def _read(src: Path) -> tuple[list[str], list[list[str]], list[int]]:
    with src.open("rb") as f:
        reader = csv.reader(_text_lines(f, src))
        header = next(reader, [])
        missing = [c for c in ("timestamp", "value") if c not in header]
        if missing:
            raise SeriesError(f"{src}: line 1: header lacks column(s) {', '.join(missing)} "
                              f"(found: {', '.join(header) or 'nothing'})")
        rows, lines = [], []
        for record in reader:
            if not record:
                continue
            rows.append(record)
            lines.append(reader.line_num)  # a quoted field may span lines; report where the record ends
    return header, rows, lines


def detect_csv(input_path: str | Path, output_path: str | Path, direction: str = "up") -> DetectReport:
    """Score the series in `input_path` and write every row back with `anomaly_score` added.
    Raises SeriesError (naming the file) only for a missing column or a bad direction."""
    src = Path(input_path)
    header, rows, lines = _read(src)
    at_t, at_v = header.index("timestamp"), header.index("value")
    warnings: list[str] = []
    timestamps: list[Timestamp] = []
    values: list[float] = []
    last: Timestamp = 0.0
    for record, line in zip(rows, lines, strict=True):
        problem = None
        if len(record) != len(header):
            problem = f"{len(record)} fields, the header has {len(header)}"
        else:
            ts_text, value_text = record[at_t].strip(), record[at_v].strip()
            try:
                last = _parse_timestamp(ts_text)
            except ValueError:
                problem = f"timestamp {ts_text!r} is not ISO 8601 or epoch seconds"
            else:
                try:
                    value = float(value_text)
                except ValueError:
                    problem = f"value {value_text!r} is not a number"
                else:
                    if not math.isfinite(value):
                        problem = f"value {value_text!r} is not a finite number"
        if problem is not None:
            warnings.append(f"{src}: line {line}: {problem}; not scored (score 0)")
            value = math.nan
        timestamps.append(last)  # an unreadable row keeps the clock where it was
        values.append(value)
    try:
        result = analyse_series(timestamps, values, direction)
    except SeriesError as e:
        raise SeriesError(f"{src}: {e}") from None
    # unreadable rows were named above, each with its line
    warnings += [f"{src}: {_rows_to_lines(note, lines)}" for note in result.warnings if not note.endswith(NOT_FINITE)]
    dst = Path(output_path)
    dst.parent.mkdir(parents=True, exist_ok=True)
    out_header = header + ([] if SCORE_COLUMN in header else [SCORE_COLUMN])
    at_score = out_header.index(SCORE_COLUMN)
    with dst.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(out_header)
        for record, score in zip(rows, result.scores, strict=True):
            cells = (record + [""] * len(out_header))[:len(out_header)]
            cells[at_score] = f"{score:.9f}"
            writer.writerow(cells)
    return DetectReport(len(rows), warnings)


def _rows_to_lines(note: str, lines: list[int]) -> str:
    """The series names rows from 1 ("rows 3, 9 and 2 more: ..."); say which lines of the file."""
    head, _, what = note.partition(": ")
    words = head.replace(",", " ").split()
    numbers = [int(w) for w in words if w.isdigit()]
    named = [lines[n - 1] for n in numbers if 0 < n <= len(lines)]
    rest = head[head.find(" and "):] if " and " in head else ""
    return f"line{'s' if len(named) > 1 or rest else ''} {', '.join(map(str, named))}{rest}: {what}"
