"""The complaint probe sets as data: where they are and how a row reads (see `nlp.probes`, which
runs them through the analyzer). Apart from `nlp.probes` so that training the learnt category
fallback on the tuning sets (`nlp.train_categories`, run by `yuqing train`) needs no analyzer.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

_FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
# Sets A and C, which the rules are tuned on (C was written for the third round before its rule
# changes), and set B, written apart before the second round's rule changes and never tuned on: it
# measures what A and C cannot, how the rules hold on phrasings their author did not see. Set D was
# written before the fourth round's rule changes in registers the others use little (complaint
# platform forms, 12378/12363 wording, forum slang): the second set never tuned on.
PROBES = _FIXTURES / "complaint_probes.jsonl"
PROBES_C = _FIXTURES / "complaint_probes_c.jsonl"
PROBES_B = _FIXTURES / "complaint_probes_b.jsonl"
PROBES_D = _FIXTURES / "complaint_probes_d.jsonl"
# Set E was written for the fifth round and committed before its changes, which tuned the learnt
# fallback on A–D; the sixth round tunes the rules on it and fits the fallback on A–E.
PROBES_E = _FIXTURES / "complaint_probes_e.jsonl"
# Set F was written for the sixth round and committed before its changes, which tune on A–E: the
# one set nothing is tuned on now.
PROBES_F = _FIXTURES / "complaint_probes_f.jsonl"
_FIELDS = {"id": str, "kind": str, "text": str, "polarity": str, "categories": list, "targets": list}


@dataclass(frozen=True)
class Probe:
    id: str
    kind: str
    text: str
    polarity: str
    categories: tuple[str, ...]
    targets: tuple[str, ...]


def load_probes(path: Path = PROBES) -> list[Probe]:
    """The probe rows; a malformed line raises ValueError naming the file and line."""
    probes = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{number}: not valid JSON ({e.msg})") from None
            for key, kind in _FIELDS.items():
                if not isinstance(row.get(key), kind):
                    raise ValueError(f"{path}:{number}: {key!r} must be a {kind.__name__}")
            probes.append(Probe(row["id"], row["kind"], row["text"], row["polarity"],
                                tuple(row["categories"]), tuple(row["targets"])))
    return probes
