"""The complaint probe set through the shipped analyzer: per-category precision and recall, how
often each kind of probe is rightly negative or not, and whether the bank where a fraud victim kept
the money is blamed (the table in the model card, README.md).

    .venv/bin/python benchmarks/eval_probes.py [--model DIR] [--probes FILE] [--evidence W] [--halves]

The probes (tests/fixtures/complaint_probes.jsonl, described in nlp/probes.py) are original texts
in the register of complaint platforms, forums and Weibo; neither training file holds anything
like them. `--model` scores a model folder made by `yuqing train sentiment --out DIR` instead;
`--evidence` sets `nlp.category_evidence`. `--halves` is the honest check: the evidence weight is
chosen on one half of the probes (alternate rows of each kind, by mean per-category F1) and the
table is printed for that half and for the other, which nothing was tuned on.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nlp import CATEGORY_LABELS, Analyzer
from nlp.probes import PROBES, Probe, analyse, figures, halves, load_probes, mean_f1, watched
from nlp.train import EVIDENCE_GRID


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="a model folder (default: the shipped models)")
    parser.add_argument("--probes", type=Path, default=PROBES)
    parser.add_argument("--evidence", type=float, help="nlp.category_evidence (default: the shipped one)")
    parser.add_argument("--halves", action="store_true", help="choose the evidence weight on one half, report both")
    args = parser.parse_args()
    probes = load_probes(args.probes)
    settings: dict[str, object] = {}
    if args.model:
        settings["model"] = str(args.model)
    if args.halves:
        return _halves(probes, settings)
    if args.evidence is not None:
        settings["category_evidence"] = args.evidence
    analyzer = Analyzer(watched(probes), settings)
    got = figures(probes, analyse(probes, analyzer), list(CATEGORY_LABELS))
    print(f"{len(probes)} probes\n")
    print("| category | label | precision | recall | support |\n| --- | --- | --- | --- | --- |")
    for code, row in got["categories"].items():
        print(f"| {code} | {CATEGORY_LABELS[code]} | {row['precision']} | {row['recall']} | {row['support']} |")
    print("\n| kind | negative or not, right |\n| --- | --- |")
    for kind, share in got["negative_right"].items():
        print(f"| {kind} | {share} |")
    print(f"\nbank where the money was kept blamed: {got['kept_bank_blamed']} of {got['kept']} `kept` probes")
    return 0


def _halves(probes: list[Probe], settings: dict[str, object]) -> int:
    tune, report = halves(probes)
    codes = list(CATEGORY_LABELS)

    def run(part: list[Probe], weight: float) -> dict[str, dict[str, object]]:
        analyzer = Analyzer(watched(probes), {**settings, "category_evidence": weight})
        return figures(part, analyse(part, analyzer), codes)["categories"]

    by_weight = {w: run(tune, w) for w in EVIDENCE_GRID}
    for w, got in by_weight.items():
        print(f"evidence {w}: mean per-category F1 on the tuning half {mean_f1(got):.3f}")
    weight = max(EVIDENCE_GRID, key=lambda w: mean_f1(by_weight[w]))
    tuned, held = by_weight[weight], run(report, weight)
    print(f"\nchosen on the tuning half ({len(tune)} probes): evidence {weight}; "
          f"the other half ({len(report)} probes) mean F1 {mean_f1(held):.3f}\n")
    print("| category | label | precision (tuning half) | recall (tuning half) | precision (other half) "
          "| recall (other half) |\n| --- | --- | --- | --- | --- | --- |")
    for code in codes:
        a, b = tuned[code], held[code]
        print(f"| {code} | {CATEGORY_LABELS[code]} | {a['precision']} | {a['recall']} | "
              f"{b['precision']} | {b['recall']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
