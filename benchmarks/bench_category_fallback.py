"""What the learnt category model costs at run time: loading `nlp/models/category.bin` once, then
each post that reaches it (`CategoryRules.report`), against the first version's first use
(importing scikit-learn and fitting the TF-IDF model in the process, 6f45900, on today's training
pairs), measured in the same run, in CPU time (`time.process_time`: the machine is shared).

    .venv/bin/python benchmarks/bench_category_fallback.py [--repeat 5]

The posts are the complaints of set E (never trained on), with the categories the rules find;
times are the best of `--repeat` rounds.
"""
from __future__ import annotations

import argparse
import time

from nlp.categories import LEARNT_FILE, CategoryRules, _learnt
from nlp.probeset import PROBES_E
from nlp.train_categories import rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rules = CategoryRules()
    texts = list(dict.fromkeys(text for text, _ in rows((PROBES_E,))))
    found = [rules.find(text) for text in texts]
    loads, posts = [], []
    for _ in range(args.repeat):
        _learnt.cache_clear()
        start = time.process_time()
        _learnt()
        loads.append(time.process_time() - start)
        start = time.process_time()
        for text, codes in zip(texts, found, strict=True):
            rules.report(text, codes)
        posts.append((time.process_time() - start) / len(texts))
    print(f"shipped file ({LEARNT_FILE.stat().st_size / 1e6:.2f} MB): load {min(loads) * 1e3:.0f} ms, "
          f"then {min(posts) * 1e3:.2f} ms a post ({len(texts)} complaints of set E)")
    start = time.process_time()
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    imported = time.process_time() - start
    pairs = rows()
    start = time.process_time()
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
    LogisticRegression(max_iter=2000).fit(vectorizer.fit_transform([t for t, _ in pairs]), [c for _, c in pairs])
    print(f"first version's first use: scikit-learn import {imported:.1f} s + fit {time.process_time() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
