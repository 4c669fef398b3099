"""The complaint probe sets: how the analyzer does on consumer complaints, which neither training
file contains (`tests/fixtures/complaint_probes.jsonl`, set A, `complaint_probes_c.jsonl`, set C,
`complaint_probes_b.jsonl`, set B, `complaint_probes_d.jsonl`, set D, `complaint_probes_e.jsonl`,
set E, and `complaint_probes_f.jsonl`, set F; figures in the README's model card).

Each row is an original text written in the register of complaint platforms, forums and Weibo,
with what a reader would say of it: `polarity`, the complaint `categories`, and the `targets`
(the institutions the complaint is about). `kind` says what the row probes: one of the ten
categories (fraud, debt, missell, default, fees, account, leak, contract, service, penalty), or
negation (a denial or a clean record), thanks (praise, often for stopping a fraud), sarcasm
(praise words around a complaint), kept (a fraud whose victims kept their money at a bank, which
is no target) and neutral (news and questions). Every institution named in a `targets` list is
watched, so the analyzer finds them in the texts as it finds configured institutions.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nlp.analyzer import Analysis, AnalysisInput, Analyzer
from nlp.probeset import PROBES, PROBES_B, PROBES_C, PROBES_D, PROBES_E, PROBES_F, Probe, load_probes

__all__ = ["PROBES", "PROBES_B", "PROBES_C", "PROBES_D", "PROBES_E", "PROBES_F", "Probe", "analyse", "figures",
           "halves", "load_probes", "mean_f1", "watched"]
from yuqing.model import Institution


def watched(probes: Sequence[Probe]) -> list[Institution]:
    return [Institution(name) for name in dict.fromkeys(t for p in probes for t in p.targets)]


def analyse(probes: Sequence[Probe], analyzer: Analyzer | None = None) -> list[Analysis]:
    analyzer = analyzer or Analyzer(watched(probes))
    return analyzer.analyze_batch([AnalysisInput(p.text) for p in probes], keywords=False)


def figures(probes: Sequence[Probe], results: Sequence[Analysis], codes: Sequence[str]) -> dict[str, Any]:
    """Per-category precision and recall over all probes, per kind the share whose "negative or
    not" is right (neutral against positive is left to the forum figures), and how often a
    `kept` probe blames an institution that is not its target."""
    per_category = {}
    for code in codes:
        tp = sum(code in p.categories and code in r.categories for p, r in zip(probes, results, strict=True))
        predicted = sum(code in r.categories for r in results)
        gold = sum(code in p.categories for p in probes)
        per_category[code] = {"precision": round(tp / predicted, 3) if predicted else None,
                              "recall": round(tp / gold, 3) if gold else None, "support": gold}
    kinds: dict[str, list[bool]] = {}
    for p, r in zip(probes, results, strict=True):
        kinds.setdefault(p.kind, []).append((r.polarity == "negative") == (p.polarity == "negative"))
    kept = [(p, r) for p, r in zip(probes, results, strict=True) if p.kind == "kept"]
    return {"categories": per_category,
            "negative_right": {k: round(sum(v) / len(v), 3) for k, v in kinds.items()},
            "kept_bank_blamed": sum(bool(set(r.negative_entities) - set(p.targets)) for p, r in kept),
            "kept": len(kept)}


def halves(probes: Sequence[Probe]) -> tuple[list[Probe], list[Probe]]:
    """The probes split in two halves alike in kind (alternate rows of each kind, in file order):
    a setting is chosen on the first and reported on the second too, which nothing was tuned on."""
    seen: dict[str, int] = {}
    first: list[Probe] = []
    second: list[Probe] = []
    for probe in probes:
        n = seen[probe.kind] = seen.get(probe.kind, -1) + 1
        (first if n % 2 == 0 else second).append(probe)
    return first, second


def mean_f1(got: dict[str, Any]) -> float:
    """The mean per-category F1 of `figures(...)["categories"]` (a category never predicted counts 0)."""
    scores = [2 * r["precision"] * r["recall"] / (r["precision"] + r["recall"])
              if r["precision"] and r["recall"] else 0.0 for r in got.values()]
    return sum(scores) / len(scores)

