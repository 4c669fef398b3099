"""The complaint probe set (tests/fixtures/complaint_probes.jsonl, see nlp/probes.py) through the
shipped analyzer: the per-category figures the model card reports, and the behaviours a reader
notices at once (praise, denials and the bank where the money was kept are not complaints)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlp import CATEGORY_LABELS, Analysis
from nlp.probes import Probe, analyse, figures, load_probes

# The target is 0.85 for both; the shipped analyzer reaches it for precision in most
# categories and for recall in few (model card, "The complaint probe set"). These floors hold it to
# what it reaches, so a change that loses ground fails.
MIN_PRECISION, MIN_RECALL, MIN_MEAN_RECALL = 0.75, 0.35, 0.6
TARGET = 0.85


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


def test_mean_recall_and_how_many_categories_meet_the_target(probes: list[Probe], results: list[Analysis]) -> None:
    rows = figures(probes, results, list(CATEGORY_LABELS))["categories"].values()
    assert sum(r["recall"] for r in rows) / len(rows) >= MIN_MEAN_RECALL
    assert sum(r["precision"] >= TARGET for r in rows) >= 8 and sum(r["recall"] >= TARGET for r in rows) >= 2


@pytest.mark.parametrize("kind", ["thanks", "negation", "neutral"])
def test_praise_denials_and_news_are_not_negative_and_carry_no_risk(kind: str, probes: list[Probe],
                                                                   results: list[Analysis]) -> None:
    rows = _of(kind, probes, results)
    wrong = [p.text for p, r in rows if r.polarity == "negative"]
    assert len(wrong) <= len(rows) // 3, wrong
    assert all(r.risk == 0 and r.categories == [] for p, r in rows if r.polarity != "negative")


def test_complaints_are_negative(probes: list[Probe], results: list[Analysis]) -> None:
    complaints = [(p, r) for p, r in zip(probes, results, strict=True) if p.categories and p.kind != "sarcasm"]
    missed = [p.text for p, r in complaints if r.polarity != "negative"]
    assert len(missed) <= len(complaints) * 0.35, missed


def test_the_bank_where_money_was_kept_is_not_blamed(probes: list[Probe], results: list[Analysis]) -> None:
    rows = _of("kept", probes, results)
    blamed = [(p.text, r.negative_entities) for p, r in rows if set(r.negative_entities) - set(p.targets)]
    assert len(blamed) <= len(rows) // 5, blamed  # the second round's model blamed the bank in 8 of 10


def test_malformed_probe_line_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "probes.jsonl"
    row = {"id": "x", "kind": "fees", "text": "收费", "polarity": "negative", "categories": "fees", "targets": []}
    bad.write_text(json.dumps(row) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"probes.jsonl:1: 'categories' must be a list"):
        load_probes(bad)
