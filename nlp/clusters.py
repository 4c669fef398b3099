"""Near duplicates by MinHash over character shingles (datasketch), for two uses: clusters of
training texts, so an evaluation never scores a text whose twin it trained on; and the signature
of each mention that `yuqing.groups` compares to group reposts and copies of one story.

Both training files repeat themselves beyond identical rows: finnsp carries the same Weibo spam
and the same news wire with a different company name or a different tail, finfe the same forum
phrase with one word changed. Texts are compared with their entity names masked (so two copies of
one template about different companies are one cluster) by MinHash over character 3-gram shingles;
pairs whose estimated Jaccard similarity reaches `THRESHOLD` are joined, and clusters are the
connected components.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Literal

from datasketch import MinHash, MinHashLSH

from nlp.normalize import normalize

THRESHOLD = 0.7  # Jaccard of 3-gram sets; 0.7 joins copies with a changed name, date or tail
NUM_PERM = 64
SHINGLE = 3
# Mention signatures: more permutations than the training clusters, since each estimate decides
# alone whether a post joins a story (128: about ±0.04 at Jaccard 0.5).
SIGNATURE_PERM = 128
# Named, not left to datasketch's default: signatures are kept (yuqing.groups) and compare only
# with signatures of the same scheme (datasketch 2.0 changed the default once already).
SIGNATURE_SCHEME: Literal["affine32"] = "affine32"
# Shorter normalised texts ("转发微博", "同意", "+1") say too little to be called copies of anything.
SIGNATURE_MIN_CHARS = 8
# The words that say "this is a repost" without being the story: kept out of the comparison.
_REPOST_LABEL = re.compile(r"转发微博|轉發微博|转发|【转】|\[转\]|转自|转载|repost", re.IGNORECASE)
_NOT_WORD = re.compile(r"[\W_]+")


def _shingles(text: str) -> set[bytes]:
    if len(text) <= SHINGLE:
        return {text.encode("utf-8")}
    return {text[i:i + SHINGLE].encode("utf-8") for i in range(len(text) - SHINGLE + 1)}


def near_duplicate_clusters(texts: Sequence[str], threshold: float = THRESHOLD) -> list[int]:
    """One cluster number per text (numbered by first member); identical texts always share one."""
    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[str, int] = {}
    distinct: list[int] = []
    for i, text in enumerate(texts):
        if text in first:
            parent[i] = first[text]
        else:
            first[text] = i
            distinct.append(i)
    hashes = MinHash.bulk([_shingles(texts[i]) for i in distinct], num_perm=NUM_PERM, seed=1)
    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    for k, h in enumerate(hashes):
        # LSH proposes candidates; the estimated similarity decides.
        for j in (int(key) for key in lsh.query(h)):
            a, b = root(distinct[k]), root(distinct[j])
            if a != b and h.jaccard(hashes[j]) >= threshold:
                parent[max(a, b)] = min(a, b)
        lsh.insert(str(k), h)
    numbers: dict[int, int] = {}
    return [numbers.setdefault(root(i), len(numbers)) for i in range(len(texts))]


def comparable_text(text: str) -> str:
    """What two copies of one story share: the normalised text (repost markers, @names, URLs and
    lost emoji out, one script and width) without repost labels, punctuation and spaces, lower-case."""
    return _NOT_WORD.sub("", _REPOST_LABEL.sub("", normalize(text))).lower()


@lru_cache(maxsize=1)
def _permutations() -> Any:
    # Drawn once: drawing them again for every post took longer than hashing its shingles.
    return MinHash(num_perm=SIGNATURE_PERM, seed=1, scheme=SIGNATURE_SCHEME).permutations


def signature(text: str) -> list[int] | None:
    """The MinHash of the text's character 3-gram set (`SIGNATURE_PERM` values, each below 2**32;
    the share of equal values estimates the Jaccard similarity of two texts), or None when the
    comparable text is too short to compare."""
    comparable = comparable_text(text)
    if len(comparable) < SIGNATURE_MIN_CHARS:
        return None
    minhash = MinHash(num_perm=SIGNATURE_PERM, seed=1, permutations=_permutations(), scheme=SIGNATURE_SCHEME)
    minhash.update_batch(list(_shingles(comparable)))
    return [int(v) for v in minhash.hashvalues]
