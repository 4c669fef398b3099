"""Near-duplicate clusters of texts: of training texts, so an evaluation never scores a text whose
twin it trained on, and of a digest's mentions, its stories (needs datasketch).

Both training files repeat themselves beyond identical rows: finnsp carries the same Weibo spam
and the same news wire with a different company name or a different tail, finfe the same forum
phrase with one word changed. Texts are compared with their entity names masked (so two copies of
one template about different companies are one cluster) by MinHash over character 3-gram shingles;
pairs whose estimated Jaccard similarity reaches `THRESHOLD` are joined, and clusters are the
connected components.
"""
from __future__ import annotations

from collections.abc import Sequence

THRESHOLD = 0.7  # Jaccard of 3-gram sets; 0.7 joins copies with a changed name, date or tail
NUM_PERM = 64
SHINGLE = 3


def _shingles(text: str) -> set[bytes]:
    if len(text) <= SHINGLE:
        return {text.encode("utf-8")}
    return {text[i:i + SHINGLE].encode("utf-8") for i in range(len(text) - SHINGLE + 1)}


class Components:
    """Connected components of items 0..n-1 (union-find); each joined to the lowest-numbered."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def root(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(self, i: int, j: int) -> None:
        a, b = self.root(i), self.root(j)
        self.parent[max(a, b)] = min(a, b)


def near_duplicate_clusters(texts: Sequence[str], threshold: float = THRESHOLD) -> list[int]:
    """One cluster number per text (numbered by first member); identical texts always share one."""
    from datasketch import MinHash, MinHashLSH

    components = Components(len(texts))
    first: dict[str, int] = {}
    distinct: list[int] = []
    for i, text in enumerate(texts):
        if text in first:
            components.join(i, first[text])
        else:
            first[text] = i
            distinct.append(i)
    hashes = MinHash.bulk([_shingles(texts[i]) for i in distinct], num_perm=NUM_PERM, seed=1)
    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    for k, h in enumerate(hashes):
        # LSH proposes candidates; the estimated similarity decides.
        for j in (int(key) for key in lsh.query(h)):
            if h.jaccard(hashes[j]) >= threshold:
                components.join(distinct[k], distinct[j])
        lsh.insert(str(k), h)
    numbers: dict[int, int] = {}
    return [numbers.setdefault(components.root(i), len(numbers)) for i in range(len(texts))]
