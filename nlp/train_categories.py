"""`yuqing train categories`: rebuild the learnt category fallback (`nlp.categories._learnt`).

    yuqing train categories [--out nlp/models/category.bin]

Fitted on the complaints of probe sets A–E (each category of a row its own pair), names masked as
the analyzer masks them; set F stays unseen. Leave-one-set-out over A–D chose how the analyzer
combines it with the rules (`nlp.categories.LEARNT_CONFIDENT`). Binary character
1- to 3-grams (`nlp.categories.learnt_features`), multinomial logistic regression with
scikit-learn's defaults, chosen before looking (no tuning of C, no threshold). Seeded and in file
order: the same probe files give the same bytes. Needs scikit-learn (training only; the file is
scored in pure Python).
"""
from __future__ import annotations

import argparse
import importlib.util
from array import array
from pathlib import Path
from typing import Any

from nlp.categories import LEARNT_FILE, learnt_features
from nlp.features import PLACEHOLDER
from nlp.linear import LinearModel
from nlp.normalize import normalize
from nlp.probeset import PROBES, PROBES_B, PROBES_C, PROBES_D, PROBES_E, load_probes
from nlp.provenance import file_record

SEED = 0
SOURCES = (PROBES, PROBES_C, PROBES_B, PROBES_D, PROBES_E)


def rows(paths: tuple[Path, ...] = SOURCES) -> list[tuple[str, str]]:
    """(masked text, category) pairs of the complaints in `paths`."""
    out = []
    for path in paths:
        for probe in load_probes(path):
            text = normalize(probe.text)
            for name in probe.targets:
                text = text.replace(normalize(name), PLACEHOLDER)
            out += [(text, code) for code in probe.categories]
    return out


def train(out: Path = LEARNT_FILE, paths: tuple[Path, ...] = SOURCES) -> LinearModel:
    import numpy as np
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    pairs = rows(paths)
    vectorizer = CountVectorizer(analyzer=learnt_features, binary=True)
    x = vectorizer.fit_transform([text for text, _ in pairs])
    fitted = LogisticRegression(max_iter=2000, random_state=SEED).fit(x, [code for _, code in pairs])
    weights = fitted.coef_.T.astype(np.float32)
    meta: dict[str, Any] = {
        "outputs": [str(c) for c in fitted.classes_],
        "inputs": "binary character 1-3-grams of the normalised text, names masked",
        "data": [file_record(p, len(load_probes(p))) for p in paths], "pairs": len(pairs), "seed": SEED}
    model = LinearModel(list(vectorizer.get_feature_names_out()), array("f", weights.ravel().tolist()),
                        [float(b) for b in fitted.intercept_], meta)
    model.save(out)
    return model


def add_parser(sub: Any) -> None:
    """The `categories` subcommand of `yuqing train` (`nlp.train.main`)."""
    p = sub.add_parser("categories", help="train the learnt category fallback on probe sets A to E",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=LEARNT_FILE, help="the model file (default: the shipped one)")


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("sklearn") is None:
        raise SystemExit("training needs scikit-learn: pip install scikit-learn (or this package's [test] extra)")
    model = train(args.out)
    print(f"wrote {args.out}: {len(model.features)} features × {model.outputs} categories "
          f"from {model.meta['pairs']} (text, category) pairs")
    return 0
