"""New-term bursts: a term rarely seen before that is suddenly frequent (a product name next to 暴雷).

Per term, the number of recent mentions that contain it is compared with what its share of the
history predicts (document frequencies, with half a mention of prior so an unseen term is not
infinitely rare): the Poisson tail of the recent count, corrected for the number of terms tested
(Bonferroni), gives the rarity in decades, scored like the volume detector (`score_from_decades`,
0.5 where one of that many tests would be expected to look as extreme). Only terms rare in the
history (at most `max_history_share` of its mentions) and found in at least `min_count` recent
mentions are reported."""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from alerts.detect.stream import log10_poisson_at_least, score_from_decades


@dataclass(frozen=True)
class TermBurst:
    term: str
    count: int  # recent mentions containing it
    history_count: int  # history mentions containing it
    expected: float  # recent mentions expected to contain it, from the history
    score: float


def _document_frequency(mentions: Iterable[Iterable[str]]) -> tuple[Counter[str], int]:
    counts: Counter[str] = Counter()
    total = 0
    for terms in mentions:
        counts.update(set(terms))
        total += 1
    return counts, total


def term_bursts(recent: Sequence[Iterable[str]], history: Sequence[Iterable[str]], min_count: int = 5,
                max_history_share: float = 0.01, threshold: float = 0.95) -> list[TermBurst]:
    """Terms bursting in `recent` (the terms of each recent mention) against `history` (the terms
    of each earlier mention), scoring at least `threshold`, highest score first."""
    now, n_recent = _document_frequency(recent)
    before, n_history = _document_frequency(history)
    tests = max(len(now), 1)
    out = []
    for term, count in now.items():
        seen = before.get(term, 0)
        share = (seen + 0.5) / (n_history + 1)
        if count < min_count or seen > max_history_share * n_history:
            continue
        expected = n_recent * share
        decades = -log10_poisson_at_least(count, expected) - math.log10(tests)
        score = score_from_decades(decades)
        if score >= threshold:
            out.append(TermBurst(term, count, seen, round(expected, 3), score))
    return sorted(out, key=lambda b: (-b.score, b.term))
