"""The complaint probe set (tests/fixtures/complaint_probes.jsonl, see nlp/probes.py) through the
shipped analyzer: the per-category figures the model card reports, and the behaviours a reader
notices at once (praise, denials and the bank where the money was kept are not complaints)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlp import CATEGORY_LABELS, Analysis
from nlp.probes import Probe, analyse, figures, load_probes

MIN_PRECISION = MIN_RECALL = 0.85


@pytest.fixture(scope="module")
def probes() -> list[Probe]:
    return load_probes()


@pytest.fixture(scope="module")
def results(probes: list[Probe]) -> list[Analysis]:
    return analyse(probes)


def _of(kind: str, probes: list[Probe], results: list[Analysis]) -> list[tuple[Probe, Analysis]]:
    return [(p, r) for p, r in zip(probes, results, strict=True) if p.kind == kind]


def test_probe_set_covers_every_category_and_phenomenon(probes: list[Probe]) -> None:
    assert len(probes) >= 200 and len({p.text for p in probes}) == len(probes)
    assert {c for p in probes for c in p.categories} == set(CATEGORY_LABELS)
    kinds = {p.kind for p in probes}
    assert {"negation", "thanks", "sarcasm", "kept"} <= kinds
    assert all(sum(c in p.categories for p in probes) >= 20 for c in CATEGORY_LABELS)


@pytest.mark.parametrize("code", list(CATEGORY_LABELS))
def test_category_precision_and_recall(code: str, probes: list[Probe], results: list[Analysis]) -> None:
    got = figures(probes, results, [code])["categories"][code]
    assert got["precision"] is not None and got["precision"] >= MIN_PRECISION, got
    assert got["recall"] >= MIN_RECALL, got


@pytest.mark.parametrize("kind", ["thanks", "negation", "neutral"])
def test_praise_denials_and_news_are_not_negative_and_carry_no_risk(kind: str, probes: list[Probe],
                                                                   results: list[Analysis]) -> None:
    rows = _of(kind, probes, results)
    wrong = [p.text for p, r in rows if r.polarity == "negative"]
    assert len(wrong) <= len(rows) // 10, wrong
    assert all(r.risk == 0 and r.categories == [] for p, r in rows if r.polarity != "negative")


def test_complaints_are_negative(probes: list[Probe], results: list[Analysis]) -> None:
    complaints = [(p, r) for p, r in zip(probes, results, strict=True) if p.categories and p.kind != "sarcasm"]
    missed = [p.text for p, r in complaints if r.polarity != "negative"]
    assert len(missed) <= len(complaints) // 10, missed


def test_the_bank_where_money_was_kept_is_not_blamed(probes: list[Probe], results: list[Analysis]) -> None:
    rows = _of("kept", probes, results)
    blamed = [(p.text, r.negative_entities) for p, r in rows if set(r.negative_entities) - set(p.targets)]
    assert not blamed


def test_malformed_probe_line_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "probes.jsonl"
    row = {"id": "x", "kind": "fees", "text": "收费", "polarity": "negative", "categories": "fees", "targets": []}
    bad.write_text(json.dumps(row) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"probes.jsonl:1: 'categories' must be a list"):
        load_probes(bad)
