"""The complaint probe set through the shipped analyzer: per-category precision and recall, how
often each kind of probe is rightly negative or not, and whether the bank where a fraud victim kept
the money is blamed (the table in the model card, README.md).

    .venv/bin/python benchmarks/eval_probes.py [--model DIR] [--probes FILE] [--evidence W]

The probes (tests/fixtures/complaint_probes.jsonl, described in nlp/probes.py) are original texts
in the register of complaint platforms, forums and Weibo; neither training file holds anything
like them. `--model` scores a model folder made by `yuqing train sentiment --out DIR` instead;
`--evidence` sets `nlp.category_evidence`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nlp import CATEGORY_LABELS, Analyzer
from nlp.probes import PROBES, analyse, figures, load_probes, watched


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="a model folder (default: the shipped models)")
    parser.add_argument("--probes", type=Path, default=PROBES)
    parser.add_argument("--evidence", type=float, help="nlp.category_evidence (default: the shipped 0.3)")
    args = parser.parse_args()
    probes = load_probes(args.probes)
    settings: dict[str, object] = {}
    if args.model:
        settings["model"] = str(args.model)
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


if __name__ == "__main__":
    sys.exit(main())
