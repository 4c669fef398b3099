"""Accuracy and speed of the causal anomaly detector (`alerts.detect`).

Synthetic series with planted anomalies of several shapes, over several seeds:

    5min-seasonal   5-minute counts with a daily cycle (mean 8..32), 10 days
    hourly-sparse   hourly counts averaging 0.6 (mostly zeros), 60 days
    hourly-busy     hourly counts with a daily cycle, over-dispersed (negative binomial), 30 days
    gauss           a continuous measurement with slow drift, 3000 rows

Shapes: `point` (one row), `burst` (6 rows), `ramp` (rises over 8 rows), `shift` (a step
lasting 30 rows). Sizes vary from subtle to obvious (multiples of
the local noise), so recall is not trivially 1.

Reported per series kind and overall, for direction "up" at threshold 0.95 (the alert default):
row-level precision (flagged rows inside an anomaly, or in the 6 rows after it), event recall
(anomalies with at least one flagged row; also by size), false alarms per 1000 normal rows, ROC AUC of the
scores over rows, and rows scored per second. A naive rolling z-score (mean/std of the previous
24 rows, no seasonality, no count model) is scored the same way for comparison.

    .venv/bin/python benchmarks/bench_detect.py [--seeds 10]
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alerts.detect import MIN_HISTORY, score_series

THRESHOLD = 0.95
SHAPES = ("point", "burst", "ramp", "shift")
SIZES = (3.0, 5.0, 8.0)  # anomaly size in units of the local noise standard deviation
AFTER = 6  # rows after an anomaly where a flag is late, not false


@dataclass
class Series:
    kind: str
    timestamps: np.ndarray  # epoch seconds
    values: np.ndarray
    events: list[tuple[int, int, float]]  # [start, end) rows that are anomalous, size in noise units


NB_SHAPE = 20.0  # hourly-busy: negative binomial, variance = mean + mean² / NB_SHAPE


def _noise_scale(mean: np.ndarray, kind: str) -> np.ndarray:
    """The standard deviation of the noise around `mean`: anomaly sizes are multiples of it."""
    if kind == "gauss":
        return np.full_like(mean, 1.0)
    extra = mean ** 2 / NB_SHAPE if kind == "hourly-busy" else 0.0
    return np.sqrt(np.maximum(mean, 0.5) + extra)


def _plant(rng: np.random.Generator, mean: np.ndarray, kind: str, count: int, warm: int) -> tuple[np.ndarray, list]:
    """Add anomalies to the mean curve at random, non-overlapping places after the warm-up."""
    mean = mean.copy()
    events = []
    slots = np.sort(rng.choice(np.arange(warm, len(mean) - 40, 120), size=count, replace=False))
    for start in slots:
        shape = SHAPES[rng.integers(len(SHAPES))]
        k = float(rng.choice(SIZES))
        size = k * _noise_scale(mean[start:start + 1], kind)[0]
        if shape == "point":
            mean[start] += size
            events.append((start, start + 1, k))
        elif shape == "burst":
            mean[start:start + 6] += size
            events.append((start, start + 6, k))
        elif shape == "ramp":
            mean[start:start + 8] += size * np.linspace(0.25, 1.5, 8)
            events.append((start, start + 8, k))
        else:
            mean[start:start + 30] += size  # lasts 30 rows, then returns
            events.append((start, start + 30, k))
    return mean, events


def make(kind: str, seed: int) -> Series:
    rng = np.random.default_rng(seed)
    if kind == "5min-seasonal":
        n, step = 10 * 288, 300
        mean = 20 + 12 * np.sin(2 * np.pi * np.arange(n) / 288)
    elif kind == "hourly-sparse":
        n, step = 60 * 24, 3600
        mean = np.full(n, 0.6)
    elif kind == "hourly-busy":
        n, step = 30 * 24, 3600
        mean = 40 + 25 * np.sin(2 * np.pi * (np.arange(n) - 6) / 24)
    else:
        n, step = 3000, 60
        mean = 100 + np.cumsum(rng.normal(0, 0.02, n))
    warm = 4 * 288 if kind == "5min-seasonal" else 4 * 24
    planted, events = _plant(rng, mean, kind, count=max(4, n // 400), warm=warm)
    if kind == "gauss":
        values = planted + rng.normal(0, 1.0, n)
    elif kind == "hourly-busy":
        values = rng.poisson(rng.gamma(NB_SHAPE, np.maximum(planted, 0.01) / NB_SHAPE))
    else:
        values = rng.poisson(np.maximum(planted, 0.0))
    return Series(kind, 1_772_294_400 + step * np.arange(n), values.astype(float), events)


def naive_scores(values: np.ndarray) -> np.ndarray:
    """Rolling z of the previous 24 rows, mapped to [0, 1] by the normal CDF."""
    from math import erf

    out = np.zeros(len(values))
    for i in range(MIN_HISTORY, len(values)):
        window = values[max(0, i - 24):i]
        sd = window.std() or 1.0
        z = (values[i] - window.mean()) / sd
        out[i] = 0.5 * (1 + erf(z / np.sqrt(2)))
    return out


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Probability that an anomalous row outscores a normal one (ties count half)."""
    pos, neg = scores[labels], scores[~labels]
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    ranks[order] = np.arange(1, len(order) + 1)
    allv = np.concatenate([pos, neg])
    # average ranks over ties
    _, inverse, counts = np.unique(allv, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    ranks = (sums / counts)[inverse]
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


@dataclass
class Tally:
    flagged: int = 0
    flagged_true: int = 0
    events: int = 0
    events_found: int = 0
    by_size: dict[float, list[int]] = field(default_factory=dict)  # size → [found, planted]
    normal_rows: int = 0
    false_rows: int = 0

    def add(self, scores: np.ndarray, series: Series) -> None:
        anomalous = np.zeros(len(scores), bool)
        excused = np.zeros(len(scores), bool)  # anomalous, or just after one
        for a, b, _ in series.events:
            anomalous[a:b] = True
            excused[a:b + AFTER] = True
        flags = scores >= THRESHOLD
        self.flagged += int(flags.sum())
        self.flagged_true += int((flags & excused).sum())
        self.events += len(series.events)
        for a, b, k in series.events:
            found = bool(flags[a:b].any())
            self.events_found += found
            tally = self.by_size.setdefault(k, [0, 0])
            tally[0] += found
            tally[1] += 1
        self.normal_rows += int((~excused).sum())
        self.false_rows += int((flags & ~excused).sum())

    def line(self) -> str:
        precision = self.flagged_true / self.flagged if self.flagged else float("nan")
        sizes = " ".join(f"{k:g}σ:{f / t:.2f}" for k, (f, t) in sorted(self.by_size.items()))
        return (f"precision {precision:5.3f}  event recall {self.events_found / self.events:5.3f} ({sizes})  "
                f"false alarms/1000 rows {1000 * self.false_rows / self.normal_rows:5.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10)
    args = ap.parse_args()
    kinds = ("5min-seasonal", "hourly-sparse", "hourly-busy", "gauss")
    total = {"yuqing": Tally(), "naive": Tally()}
    all_scores: dict[str, list[np.ndarray]] = {"yuqing": [], "naive": []}
    all_labels: list[np.ndarray] = []
    rows = 0
    seconds = 0.0
    print(f"threshold {THRESHOLD}, direction up, seeds 1..{args.seeds}")
    for kind in kinds:
        per_kind = {"yuqing": Tally(), "naive": Tally()}
        kind_scores: dict[str, list[np.ndarray]] = {"yuqing": [], "naive": []}
        kind_labels = []
        for seed in range(1, args.seeds + 1):
            s = make(kind, seed)
            started = time.perf_counter()
            ours = np.array(score_series(s.timestamps.tolist(), s.values.tolist(), "up"))
            seconds += time.perf_counter() - started
            rows += len(s.values)
            labels = np.zeros(len(ours), bool)
            for a, b, _ in s.events:
                labels[a:b] = True
            for name, sc in (("yuqing", ours), ("naive", naive_scores(s.values))):
                per_kind[name].add(sc, s)
                total[name].add(sc, s)
                kind_scores[name].append(sc[MIN_HISTORY:])
            kind_labels.append(labels[MIN_HISTORY:])
        labels_cat = np.concatenate(kind_labels)
        all_labels.append(labels_cat)
        for name in ("yuqing", "naive"):
            scores_cat = np.concatenate(kind_scores[name])
            all_scores[name].append(scores_cat)
            print(f"{kind:14s} {name:7s} {per_kind[name].line()}  AUC {auc(scores_cat, labels_cat):.3f}")
    labels_all = np.concatenate(all_labels)
    for name in ("yuqing", "naive"):
        print(f"{'ALL':14s} {name:7s} {total[name].line()}  "
              f"AUC {auc(np.concatenate(all_scores[name]), labels_all):.3f}")
    print(f"speed: {rows} rows in {seconds:.2f} s = {rows / seconds:,.0f} rows/s (score_series, one series at a time)")
    big = make("5min-seasonal", 99)
    ts = np.concatenate([big.timestamps + k * 10 * 86400 for k in range(35)])  # one year of 5-minute data
    vs = np.tile(big.values, 35)
    started = time.perf_counter()
    score_series(ts.tolist(), vs.tolist(), "both")
    took = time.perf_counter() - started
    print(f"speed: one series of {len(ts)} rows (a year of 5-minute data) in {took:.2f} s "
          f"= {len(ts) / took:,.0f} rows/s")


if __name__ == "__main__":
    main()
