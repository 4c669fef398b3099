"""The complaint probe sets through the shipped analyzer: per-category precision and recall, how
often each kind of probe is rightly negative or not, and whether the bank where a fraud victim kept
the money is blamed (the tables in the model card, README.md).

    .venv/bin/python benchmarks/eval_probes.py [--model DIR] [--probes FILE] [--more FILE] [--held FILE]
                                               [--held2 FILE] [--fresh FILE] [--fresh2 FILE] [--evidence W]
                                               [--halves]

Six sets of original texts in the register of complaint platforms, forums and Weibo (described in
nlp/probes.py): sets A (tests/fixtures/complaint_probes.jsonl) and C (complaint_probes_c.jsonl),
which the rules are tuned on, and sets B (complaint_probes_b.jsonl, written apart before the second
round's rule changes) and D (complaint_probes_d.jsonl, written before the fourth round's), which
the rules were not tuned on, set E (complaint_probes_e.jsonl, written before the fifth round's
changes), which the sixth round tunes on, and set F (complaint_probes_f.jsonl, written before the
sixth round's changes), which nothing is tuned on. All printed side by side. Neither training
file holds anything like them. `--model` scores a model folder made by `yuqing train sentiment --out DIR` instead;
`--evidence` sets `nlp.category_evidence`.
`--halves` is the honest check within set A: the evidence weight is chosen on one half of it
(alternate rows of each kind, by mean per-category F1) and the table is printed for that half, for
the other, for set C and for sets B, D, E and F.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nlp import CATEGORY_LABELS, Analyzer
from nlp.probes import (
    PROBES,
    PROBES_B,
    PROBES_C,
    PROBES_D,
    PROBES_E,
    PROBES_F,
    Probe,
    analyse,
    figures,
    halves,
    load_probes,
    mean_f1,
    watched,
)
from nlp.train import EVIDENCE_GRID

CODES = list(CATEGORY_LABELS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="a model folder (default: the shipped models)")
    parser.add_argument("--probes", type=Path, default=PROBES, help="the set tuned on (default: set A)")
    parser.add_argument("--more", type=Path, default=PROBES_C, help="the second set tuned on (default: set C)")
    parser.add_argument("--held", type=Path, default=PROBES_B, help="a set never tuned on (default: set B)")
    parser.add_argument("--held2", type=Path, default=PROBES_D, help="the second set never tuned on (default: set D)")
    parser.add_argument("--fresh", type=Path, default=PROBES_E,
                        help="the fifth round's unseen set (default: set E)")
    parser.add_argument("--fresh2", type=Path, default=PROBES_F,
                        help="the set nothing is tuned on, the learnt fallback included (default: set F)")
    parser.add_argument("--evidence", type=float, help="nlp.category_evidence (default: the shipped one)")
    parser.add_argument("--halves", action="store_true", help="choose the evidence weight on one half, report all")
    args = parser.parse_args()
    tuned, more = load_probes(args.probes), load_probes(args.more)
    held, held2, fresh = load_probes(args.held), load_probes(args.held2), load_probes(args.fresh)
    fresh2 = load_probes(args.fresh2)
    settings: dict[str, Any] = {"model": str(args.model)} if args.model else {}
    if args.halves:
        return _halves(tuned, more, held, held2, fresh, fresh2, settings)
    if args.evidence is not None:
        settings["category_evidence"] = args.evidence
    parts = {"set A": tuned, "set C": more, "set B": held, "set D": held2, "set E": fresh, "set F": fresh2}
    got = {name: _figures(part, part, settings) for name, part in parts.items()}
    print(", ".join(f"{name}: {len(part)} probes" for name, part in parts.items()) + "\n")
    _print_categories(got)
    names = list(got)
    print(f"\n| kind | {' | '.join(f'negative or not, right ({n})' for n in names)} |\n"
          f"| --- |{' --- |' * len(names)}")
    kinds = dict.fromkeys(k for g in got.values() for k in g["negative_right"])
    for kind in kinds:
        print(f"| {kind} | {' | '.join(str(g['negative_right'].get(kind, '')) for g in got.values())} |")
    print()
    for name, g in got.items():
        print(f"{name}: bank where the money was kept blamed in {g['kept_bank_blamed']} of {g['kept']} `kept` probes")
    return 0


def _figures(part: Sequence[Probe], whole: Sequence[Probe], settings: dict[str, Any]) -> dict[str, Any]:
    """`figures` of `part`, with the institutions of the set it comes from (`whole`) watched."""
    return figures(part, analyse(part, Analyzer(watched(whole), settings)), CODES)


def _print_categories(got: dict[str, dict[str, Any]]) -> None:
    names = list(got)
    head = " | ".join(f"precision ({n}) | recall ({n}) | support ({n})" for n in names)
    print(f"| category | label | {head} |\n| --- | --- |{' --- | --- | --- |' * len(names)}")
    for code in CODES:
        cells = " | ".join(f"{r['precision']} | {r['recall']} | {r['support']}"
                           for r in (g["categories"][code] for g in got.values()))
        print(f"| {code} | {CATEGORY_LABELS[code]} | {cells} |")
    print("| mean F1 | | " + " | ".join(f"{mean_f1(g['categories']):.3f} | |" for g in got.values()) + " |")


def _halves(probes: list[Probe], more: list[Probe], held: list[Probe], held2: list[Probe], fresh: list[Probe],
            fresh2: list[Probe], settings: dict[str, Any]) -> int:
    tune, other = halves(probes)
    by_weight = {w: _figures(tune, probes, {**settings, "category_evidence": w}) for w in EVIDENCE_GRID}
    for w, got in by_weight.items():
        print(f"evidence {w}: mean per-category F1 on the tuning half {mean_f1(got['categories']):.3f}")
    weight = max(EVIDENCE_GRID, key=lambda w: mean_f1(by_weight[w]["categories"]))
    chosen = {**settings, "category_evidence": weight}
    print(f"\nchosen on the tuning half of set A ({len(tune)} probes): evidence {weight}; reported with it "
          f"on the other half ({len(other)} probes), on set C ({len(more)}), set B ({len(held)}) "
          f"set D ({len(held2)}), set E ({len(fresh)}) and set F ({len(fresh2)} probes)\n")
    _print_categories({"tuning half": by_weight[weight], "other half": _figures(other, probes, chosen),
                       "set C": _figures(more, more, chosen), "set B": _figures(held, held, chosen),
                       "set D": _figures(held2, held2, chosen), "set E": _figures(fresh, fresh, chosen),
                       "set F": _figures(fresh2, fresh2, chosen)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
