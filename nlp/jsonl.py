"""`yuqing analyze`: JSON Lines in, the same lines with analysis fields added out.

Contract relied on by external tools: one output line per input line, in order; every input field
kept unchanged; added `polarity`, `sentiment`, `negative_entities`, `categories`, `risk`. A line
that is not a JSON object with a text is reported on stderr with its number and still yields a row
(`error`, `line` and neutral values), so line N of the output always answers line N of the input.
"""
from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any

from nlp.analyzer import Analysis, AnalysisInput, Analyzer
from yuqing.lines import decode_line

BATCH = 256
_UNANALYSED = Analysis("neutral", 0.5, [], [], 0.0, [], [], {})
# Written as JSON escapes, not as characters: a lone surrogate (`"\ud800"` in the input), which no
# UTF-8 output can carry, and the line separators that line readers other than "\n" ones split on
# (NEL, U+2028, U+2029; json.dumps already escapes the ASCII ones). The value read back is the same.
_ESCAPED = re.compile("[\ud800-\udfff\x85\u2028\u2029]")


def _dumps(row: dict[str, Any]) -> str:
    return _ESCAPED.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(row, ensure_ascii=False))


def _parse(raw: bytes, number: int) -> tuple[dict[str, Any], AnalysisInput | None, str]:
    try:
        line = decode_line(raw, number).rstrip("\r\n")
    except ValueError as e:
        return {}, None, str(e)
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        return {}, None, f"not valid JSON ({e.msg} at column {e.colno})"
    if not isinstance(row, dict):
        return {}, None, f"expected a JSON object, got {type(row).__name__}"
    text, title, entities = row.get("text", ""), row.get("title", ""), row.get("entities")
    if text is None:
        text = ""
    if not isinstance(text, str) or not isinstance(title or "", str):
        return row, None, "text and title must be strings"
    if entities is not None and (not isinstance(entities, list) or not all(isinstance(e, str) for e in entities)):
        return row, None, "entities must be a list of strings"
    return row, AnalysisInput(text=text, title=title or "", entities=entities), ""


def _fields(result: Analysis) -> dict[str, Any]:
    return {"polarity": result.polarity, "sentiment": result.sentiment,
            "negative_entities": result.negative_entities, "categories": result.categories, "risk": result.risk}


def _rows(lines: Iterable[bytes], analyzer: Analyzer, errors: IO[str]) -> Iterator[dict[str, Any]]:
    batch: list[tuple[dict[str, Any], AnalysisInput | None, str, int]] = []

    def flush() -> Iterator[dict[str, Any]]:
        results = iter(analyzer.analyze_batch([item for _, item, _, _ in batch if item is not None],
                                                keywords=False))  # not part of the output
        for row, item, error, number in batch:
            if item is None:
                print(f"line {number}: {error}", file=errors)
                yield {**row, "error": error, "line": number, **_fields(_UNANALYSED)}
            else:
                yield {**row, **_fields(next(results))}
        batch.clear()

    for number, line in enumerate(lines, 1):
        batch.append((*_parse(line, number), number))
        if len(batch) >= BATCH:
            yield from flush()
    yield from flush()


def analyze_jsonl(input_path: str | os.PathLike[str], output_path: str | os.PathLike[str],
                  analyzer: Analyzer, errors: IO[str] | None = None) -> int:
    """Analyse a JSON Lines file (`-` for stdin/stdout); returns the number of rows written.

    Raises OSError only for unusable files (missing, unreadable, unwritable output). A line that is
    not UTF-8 or not a JSON object is reported, not fatal."""
    errors = errors or sys.stderr
    src = sys.stdin.buffer if str(input_path) == "-" else open(input_path, "rb")  # noqa: SIM115
    dst = sys.stdout if str(output_path) == "-" else open(output_path, "w", encoding="utf-8")  # noqa: SIM115
    count = 0
    try:
        for row in _rows(src, analyzer, errors):
            dst.write(_dumps(row) + "\n")
            count += 1
    finally:
        if src is not sys.stdin.buffer:
            src.close()
        if dst is not sys.stdout:
            dst.close()
    return count
