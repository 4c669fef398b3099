"""Which data a model was trained on, and under which terms.

`yuqing train sentiment` records each training file's name, the rows used and its SHA-256 in the
model header; `yuqing status` shows them, so an operator (and a legal review) can tell the
shipped model, trained on research-use benchmark data, from one trained on the institution's own.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from nlp.linear import LinearModel, ModelFileError
from nlp.sentiment import DOCUMENT_FILE, MODEL_DIR

# The public training sets the shipped model was trained on, by content (see NOTICE).
KNOWN_DATA = {
    "876a5f907c86a561871a2f61f8d0dae4fb19fe8b934df073389611dbbdfc8148":
        "FinNSP of the BBT-FinCUGE benchmark (from CCF BDCI 2019 data): research use only",
    "99ec8af9d1191d3f168405cde4e3654204762570a3f9b393aa17a134ae856468":
        "FinFE of the BBT-FinCUGE benchmark: research use only",
}
_FIGURES = ("news_document_f1", "news_entity_f1", "forum_accuracy", "forum_macro_f1")


def file_record(path: Path, rows: int) -> dict[str, Any]:
    """What the model header says about one training file."""
    with path.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    return {"file": path.name, "rows": rows, "sha256": digest}


def describe(folder: Path | None) -> dict[str, Any]:
    """The model in `folder` (None: the shipped one): whether it is the shipped one, its training
    data with their terms where known, and its cross-validated figures. A file that cannot be read
    is reported in `error`, not raised: `yuqing status` must still show everything else."""
    folder = folder or MODEL_DIR
    out: dict[str, Any] = {"path": str(folder), "shipped": folder.resolve() == MODEL_DIR.resolve()}
    try:
        meta = LinearModel.load(folder / DOCUMENT_FILE).meta
    except ModelFileError as e:
        return {**out, "error": str(e)}
    data = []
    for item in meta.get("data", []):
        record = {"file": item} if isinstance(item, str) else dict(item)  # headers before checksums: names only
        unknown = "not a known public set (own data?)" if record.get("sha256") else "unknown (no checksum recorded)"
        record["terms"] = KNOWN_DATA.get(record.get("sha256", ""), unknown)
        data.append(record)
    cv = meta.get("cv", {})
    # The project's own texts, trained on beside the data (`nlp.train.voice_rows`, `probe_rows`; NOTICE).
    return {**out, "data": data, "voice": list(meta.get("voice", [])), "probes": list(meta.get("probes", [])),
            "limit": meta.get("limit"),
            "cv": {k: cv[k] for k in _FIGURES if k in cv}, "categories": _categories()}


def _categories() -> dict[str, Any]:
    """The learnt category fallback (`yuqing train categories`): the probe files it was fitted on.
    Those are the project's own texts (NOTICE), so no third-party terms apply to it."""
    from nlp.categories import LEARNT_FILE

    out: dict[str, Any] = {"path": str(LEARNT_FILE)}
    if not LEARNT_FILE.exists():
        return {**out, "error": "absent: the category rules alone are used"}
    try:
        meta = LinearModel.load(LEARNT_FILE).meta
    except ModelFileError as e:
        return {**out, "error": str(e)}
    return {**out, "data": list(meta.get("data", [])), "pairs": meta.get("pairs")}


def summary(model: dict[str, Any]) -> list[str]:
    """`describe()` as lines of text for `yuqing status`."""
    head = f"model: {model['path']}" + (" (shipped)" if model["shipped"] else "")
    if "error" in model:
        return [f"{head}: {model['error']}"]
    lines = [head]
    for d in model["data"]:
        rows = f", {d['rows']:,} rows" if "rows" in d else ""
        lines.append(f"  trained on {d['file']}{rows}: {d['terms']}")
    for d in model["voice"]:
        lines.append(f"  and on the project's own customer-voice texts {_files([d])}, each weighing {d['weight']}")
    if model["probes"]:
        lines.append(f"  and on the project's own probe sets {_files(model['probes'])}")
    if model["cv"]:
        lines.append("  cross-validated: " + ", ".join(f"{k} {v}" for k, v in model["cv"].items()))
    learnt = model["categories"]
    if "error" in learnt:
        return [*lines, f"category fallback: {learnt['path']}: {learnt['error']}"]
    return [*lines, f"category fallback: {learnt['path']}, trained on the project's own probe sets "
                    f"{_files(learnt['data'])}"]


def _files(records: list[dict[str, Any]]) -> str:
    return ", ".join(f"{d['file']} ({d['rows']} texts)" for d in records)
