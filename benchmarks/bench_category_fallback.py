"""What the learnt category fallback costs at run time: loading `nlp/models/category.bin` once, then
each post that reaches it (`CategoryRules.report` where the rules find nothing), against the first
version's first use (importing scikit-learn and fitting the TF-IDF model in the process, 6f45900),
measured in the same run.

    .venv/bin/python benchmarks/bench_category_fallback.py [--repeat 5]

The posts are the complaints of sets B and D (never trained on) that the rules find nothing in;
times are the best of `--repeat` rounds.
"""
from __future__ import annotations

import argparse
import time

from nlp.categories import LEARNT_FILE, CategoryRules, _learnt
from nlp.probeset import PROBES_B, PROBES_D
from nlp.train_categories import rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rules = CategoryRules()
    texts = [text for text in dict.fromkeys(text for text, _ in rows((PROBES_B, PROBES_D))) if not rules.find(text)]
    loads, posts = [], []
    for _ in range(args.repeat):
        _learnt.cache_clear()
        start = time.perf_counter()
        _learnt()
        loads.append(time.perf_counter() - start)
        start = time.perf_counter()
        for text in texts:
            rules.report(text, [])
        posts.append((time.perf_counter() - start) / len(texts))
    print(f"shipped file ({LEARNT_FILE.stat().st_size / 1e6:.2f} MB): load {min(loads) * 1e3:.0f} ms, "
          f"then {min(posts) * 1e3:.2f} ms a post ({len(texts)} posts of sets B and D the rules miss)")
    start = time.perf_counter()
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    imported = time.perf_counter() - start
    pairs = rows()
    start = time.perf_counter()
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
    LogisticRegression(max_iter=2000).fit(vectorizer.fit_transform([t for t, _ in pairs]), [c for _, c in pairs])
    print(f"first version's first use: scikit-learn import {imported:.1f} s + fit {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
