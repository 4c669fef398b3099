"""Accuracy and speed of the causal anomaly detector (`alerts.detect`).

Synthetic series with planted anomalies, one family per line (direction "up" unless noted):

    5min-seasonal   5-minute counts with a daily cycle (mean 8..32), 10 days
    hourly-sparse   hourly counts averaging 0.6 (mostly zeros), 60 days
    hourly-busy     hourly counts with a daily cycle, over-dispersed (negative binomial), 30 days
    gauss           a continuous measurement with slow drift, 3000 rows
    hourly-weekly   hourly counts with a daily cycle and quiet weekends (40 %), 6 weeks
    level-shift     hourly counts with a daily cycle and permanent upward level shifts, 30 days
    sustained       5-minute counts with a daily cycle and long, low bursts (12-36 rows, 1.5-3σ)
    drop (down)     hourly counts with a daily cycle; dips and dead sources (zeros for 6-24 rows)
    gaps            hourly counts with a daily cycle, 10 % of rows and three outages missing
    heavy-tail      a 5-minute continuous metric with a daily cycle and Student-t(3) noise
    short-7d        hourly counts with a daily cycle, 7 days + 1 bucket (the spike rule's window)

Anomaly shapes: `point` (one row), `burst` (6 rows), `ramp` (rises over 8 rows), `shift` (a step
lasting 30 rows), `long` (12-36 rows), `dip`/`dip6` (drops of 1 or 6 rows), `dead` (zeros),
`level` (a permanent step: its first 6 rows are the event, flags in the next 48 are excused while
the detector adapts, later ones are false alarms). Sizes are multiples of the local noise standard
deviation (the noise scale for Student-t), from subtle to obvious, so recall is not trivially 1.

Reported per family and overall at threshold 0.95 (the alert default): row-level precision (flagged
rows inside an anomaly or in the rows after it where a flag is late, not false), event recall
(anomalies with at least one flagged row; also by size), false alarms per 1000 normal rows, ROC AUC
of the scores over rows, and rows scored per second. A naive rolling z-score (mean/std of the
previous 24 rows, no seasonality, no count model) is scored the same way for comparison, and
`--compare FILE` scores another version of the detector module alongside (e.g. the committed one:
`git show HEAD:alerts/detect.py > /tmp/before.py`).

Tune on the default seeds (1..10); report final figures on held-out ones (`--first-seed 101`).

    .venv/bin/python benchmarks/bench_detect.py [--seeds 10] [--first-seed 1] [--compare FILE]
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from math import erf
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compare import load_score_series, timed

from alerts.detect import MIN_HISTORY, score_series

THRESHOLD = 0.95
SIZES = (3.0, 5.0, 8.0)  # anomaly size in units of the local noise standard deviation
AFTER = 6  # rows after an anomaly where a flag is late, not false
ADAPT = 48  # rows after a permanent level shift in which the detector may still flag the new level
NB_SHAPE = 20.0  # hourly-busy: negative binomial, variance = mean + mean² / NB_SHAPE
T_SCALE = 2.0  # heavy-tail: scale of the Student-t(3) noise
START = 1_772_294_400  # 2026-02-28 16:00 UTC
HOUR, DAY = 3600, 86400


@dataclass(frozen=True)
class Event:
    start: int
    end: int  # [start, end) rows are anomalous
    label: str  # size ("3σ") or kind ("dead"), for recall by size
    excuse: int = AFTER  # rows after `end` where a flag is not a false alarm


@dataclass
class Series:
    kind: str
    timestamps: np.ndarray  # epoch seconds
    values: np.ndarray
    events: list[Event]
    direction: str = "up"


@dataclass(frozen=True)
class Family:
    step: int  # seconds between rows
    rows: int
    warm: int  # no anomalies before this row: the detector needs some history
    noise: str  # "poisson", "nb" (negative binomial), "gauss" or "t3"
    shapes: tuple[str, ...] = ("point", "burst", "ramp", "shift")
    sizes: tuple[float, ...] = SIZES
    direction: str = "up"
    spacing: int = 120  # anomalies start on a grid of this many rows, so they never overlap
    gaps: bool = False  # drop 10 % of rows and three outages after planting


def daily(t: np.ndarray, step: int, level: float, amplitude: float, phase_hours: float = 0.0) -> np.ndarray:
    return level + amplitude * np.sin(2 * np.pi * (t * step / HOUR - phase_hours) / 24)


def weekly(t: np.ndarray, step: int) -> np.ndarray:
    weekday = ((START + t * step) // DAY + 3) % 7  # 1970-01-01 was a Thursday (3)
    return daily(t, step, 30, 15, 6) * np.where(weekday >= 5, 0.4, 1.0)


# family → (parameters, mean curve from row numbers and the random generator)
FAMILIES: dict[str, tuple[Family, Callable[[np.ndarray, np.random.Generator], np.ndarray]]] = {
    "5min-seasonal": (Family(300, 10 * 288, 4 * 288, "poisson"),
                      lambda t, rng: 20 + 12 * np.sin(2 * np.pi * t / 288)),
    "hourly-sparse": (Family(HOUR, 60 * 24, 4 * 24, "poisson"), lambda t, rng: np.full(len(t), 0.6)),
    "hourly-busy": (Family(HOUR, 30 * 24, 4 * 24, "nb"), lambda t, rng: daily(t, HOUR, 40, 25, 6)),
    "gauss": (Family(60, 3000, 4 * 24, "gauss"), lambda t, rng: 100 + np.cumsum(rng.normal(0, 0.02, len(t)))),
    "hourly-weekly": (Family(HOUR, 42 * 24, 8 * 24, "poisson"), lambda t, rng: weekly(t, HOUR)),
    "level-shift": (Family(HOUR, 30 * 24, 4 * 24, "poisson", ("point", "burst", "level")),
                    lambda t, rng: daily(t, HOUR, 20, 12, 6)),
    "sustained": (Family(300, 10 * 288, 4 * 288, "poisson", ("long",), (1.5, 2.0, 3.0)),
                  lambda t, rng: daily(t, 300, 20, 12)),
    "drop": (Family(HOUR, 30 * 24, 4 * 24, "poisson", ("dip", "dip6", "dead"), direction="down"),
             lambda t, rng: daily(t, HOUR, 40, 25, 6)),
    "gaps": (Family(HOUR, 30 * 24, 4 * 24, "poisson", gaps=True), lambda t, rng: daily(t, HOUR, 20, 12, 6)),
    "heavy-tail": (Family(300, 10 * 288, 4 * 288, "t3"), lambda t, rng: daily(t, 300, 200, 20)),
    "short-7d": (Family(HOUR, 7 * 24 + 1, 24, "poisson", ("point", "burst", "ramp"), spacing=23),
                 lambda t, rng: daily(t, HOUR, 15, 10, 6)),
}


def _noise_scale(mean: float, noise: str) -> float:
    """The standard deviation of the noise around `mean`: anomaly sizes are multiples of it."""
    if noise == "gauss":
        return 1.0
    if noise == "t3":
        return T_SCALE
    extra = mean ** 2 / NB_SHAPE if noise == "nb" else 0.0
    return float(np.sqrt(max(mean, 0.5) + extra))


def _plant(rng: np.random.Generator, mean: np.ndarray, fam: Family) -> tuple[np.ndarray, list[Event]]:
    """Add anomalies to the mean curve at random, non-overlapping places after the warm-up."""
    mean = mean.copy()
    events = []
    grid = np.arange(fam.warm, len(mean) - 40, fam.spacing)
    count = min(len(grid), max(4, len(mean) // 400))
    for start in np.sort(rng.choice(grid, size=count, replace=False)):
        shape = fam.shapes[rng.integers(len(fam.shapes))]
        k = float(rng.choice(fam.sizes))
        size = k * _noise_scale(mean[start], fam.noise)
        label = f"{k:g}σ"
        excuse = AFTER
        if shape == "point":
            length = 1
            mean[start] += size
        elif shape == "burst":
            length = 6
            mean[start:start + length] += size
        elif shape == "ramp":
            length = 8
            mean[start:start + length] += size * np.linspace(0.25, 1.5, length)
        elif shape == "shift":
            length = 30  # then returns
            mean[start:start + length] += size
        elif shape == "long":
            length = int(rng.integers(12, 37))
            mean[start:start + length] += size
        elif shape == "level":
            length, excuse = 6, ADAPT
            mean[start:] += size
        elif shape in ("dip", "dip6"):
            length = 1 if shape == "dip" else 6
            mean[start:start + length] = np.maximum(mean[start:start + length] - size, 0.0)
        else:  # dead: the source stops reporting anything
            length, label = int(rng.integers(6, 25)), "dead"
            mean[start:start + length] = 0.0
        events.append(Event(int(start), int(start) + length, label, excuse))
    return mean, events


def _drop_rows(rng: np.random.Generator, n: int, events: list[Event]) -> tuple[np.ndarray, list[Event]]:
    """Rows kept when 10 % go missing at random and three outages of 6-30 rows lose everything;
    events renumbered to the kept rows (an event with no row left is gone)."""
    keep = rng.random(n) > 0.1
    for start in rng.integers(0, n - 30, size=3):
        keep[start:start + rng.integers(6, 31)] = False
    before = np.concatenate([[0], np.cumsum(keep)])  # kept rows before each original row
    renumbered = [Event(int(before[e.start]), int(before[e.end]), e.label, e.excuse) for e in events]
    return keep, [e for e in renumbered if e.end > e.start]


def make(kind: str, seed: int) -> Series:
    fam, mean_curve = FAMILIES[kind]
    rng = np.random.default_rng(seed)
    t = np.arange(fam.rows)
    planted, events = _plant(rng, mean_curve(t, rng), fam)
    if fam.noise == "gauss":
        values = planted + rng.normal(0, 1.0, fam.rows)
    elif fam.noise == "t3":
        values = planted + T_SCALE * rng.standard_t(3, fam.rows)
    elif fam.noise == "nb":
        values = rng.poisson(rng.gamma(NB_SHAPE, np.maximum(planted, 0.01) / NB_SHAPE))
    else:
        values = rng.poisson(np.maximum(planted, 0.0))
    timestamps = START + fam.step * t
    if fam.gaps:
        keep, events = _drop_rows(rng, fam.rows, events)
        timestamps, values = timestamps[keep], values[keep]
    return Series(kind, timestamps, values.astype(float), events, fam.direction)


def naive_scores(values: np.ndarray, direction: str) -> np.ndarray:
    """Rolling z of the previous 24 rows, mapped to [0, 1] by the normal CDF (of -z for "down")."""
    sign = -1.0 if direction == "down" else 1.0
    out = np.zeros(len(values))
    for i in range(MIN_HISTORY, len(values)):
        window = values[max(0, i - 24):i]
        sd = window.std() or 1.0
        z = sign * (values[i] - window.mean()) / sd
        out[i] = 0.5 * (1 + erf(z / np.sqrt(2)))
    return out


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Probability that an anomalous row outscores a normal one (ties count half)."""
    pos, neg = scores[labels], scores[~labels]
    allv = np.concatenate([pos, neg])
    order = np.argsort(allv, kind="mergesort")
    ranks = np.empty(len(order))
    ranks[order] = np.arange(1, len(order) + 1)
    # average ranks over ties
    _, inverse, counts = np.unique(allv, return_inverse=True, return_counts=True)
    ranks = (np.bincount(inverse, weights=ranks) / counts)[inverse]
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


@dataclass
class Tally:
    flagged: int = 0
    flagged_true: int = 0
    events: int = 0
    events_found: int = 0
    by_size: dict[str, list[int]] = field(default_factory=dict)  # label → [found, planted]
    normal_rows: int = 0
    false_rows: int = 0
    scores: list[np.ndarray] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)

    def add(self, scores: np.ndarray, series: Series) -> None:
        anomalous = np.zeros(len(scores), bool)
        excused = np.zeros(len(scores), bool)  # anomalous, or just after one
        for e in series.events:
            anomalous[e.start:e.end] = True
            excused[e.start:e.end + e.excuse] = True
        flags = scores >= THRESHOLD
        self.flagged += int(flags.sum())
        self.flagged_true += int((flags & excused).sum())
        self.events += len(series.events)
        for e in series.events:
            found = bool(flags[e.start:e.end].any())
            self.events_found += found
            tally = self.by_size.setdefault(e.label, [0, 0])
            tally[0] += found
            tally[1] += 1
        self.normal_rows += int((~excused).sum())
        self.false_rows += int((flags & ~excused).sum())
        # AUC over anomalous vs normal rows; the late rows after an event count as neither
        scored = (~excused | anomalous)[MIN_HISTORY:]
        self.scores.append(scores[MIN_HISTORY:][scored])
        self.labels.append(anomalous[MIN_HISTORY:][scored])

    def merge(self, other: Tally) -> None:
        for name in ("flagged", "flagged_true", "events", "events_found", "normal_rows", "false_rows"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for label, (found, planted) in other.by_size.items():
            tally = self.by_size.setdefault(label, [0, 0])
            tally[0] += found
            tally[1] += planted
        self.scores += other.scores
        self.labels += other.labels

    def line(self) -> str:
        precision = self.flagged_true / self.flagged if self.flagged else float("nan")
        sizes = " ".join(f"{k}:{f / t:.2f}" for k, (f, t) in sorted(self.by_size.items(), key=_size_order))
        return (f"precision {precision:5.3f}  recall {self.events_found / self.events:5.3f}  "
                f"false/1000 {1000 * self.false_rows / self.normal_rows:5.2f}  "
                f"AUC {auc(np.concatenate(self.scores), np.concatenate(self.labels)):.3f}  ({sizes})")


def _size_order(item: tuple[str, list[int]]) -> tuple[int, float]:
    label = item[0]
    return (0, float(label[:-1])) if label.endswith("σ") else (1, 0.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--first-seed", type=int, default=1, help="tune on 1..; report on held-out ones (e.g. 101)")
    ap.add_argument("--compare", metavar="FILE", help="another version of alerts/detect.py to score alongside")
    ap.add_argument("--families", default=",".join(FAMILIES), help="comma-separated subset")
    args = ap.parse_args()
    detectors: dict[str, Callable[[np.ndarray, np.ndarray, str], np.ndarray]] = {
        "yuqing": lambda ts, vs, d: np.array(score_series(ts.tolist(), vs.tolist(), d))}
    if args.compare:
        before = load_score_series(args.compare)
        detectors["compared"] = lambda ts, vs, d: np.array(before(ts.tolist(), vs.tolist(), d))
    detectors["naive"] = lambda ts, vs, d: naive_scores(vs, d)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    total = {name: Tally() for name in detectors}
    rows = 0
    seconds = dict.fromkeys(detectors, 0.0)
    by_series = {name: (lambda s, d=detect: d(s.timestamps, s.values, s.direction))
                 for name, detect in detectors.items()}
    print(f"threshold {THRESHOLD}, seeds {seeds.start}..{seeds.stop - 1}")
    for kind in args.families.split(","):
        per_kind = {name: Tally() for name in detectors}
        for s, answers in timed(by_series, (make(kind, seed) for seed in seeds), seconds):
            rows += len(s.values)
            for name, scores in answers.items():
                per_kind[name].add(scores, s)
        for name in detectors:
            print(f"{kind:13s} {name:8s} {per_kind[name].line()}")
            total[name].merge(per_kind[name])
    for name in detectors:
        print(f"{'ALL':13s} {name:8s} {total[name].line()}")
    for name in detectors:
        if name != "naive":
            print(f"speed {name}: {rows} rows in {seconds[name]:.2f} s = {rows / seconds[name]:,.0f} rows/s "
                  "(one series at a time)")
    big = make("5min-seasonal", 99)
    ts = np.concatenate([big.timestamps + k * 10 * DAY for k in range(35)])  # one year of 5-minute data
    vs = np.tile(big.values, 35)
    started = time.perf_counter()
    detectors["yuqing"](ts, vs, "both")
    took = time.perf_counter() - started
    print(f"speed yuqing: one series of {len(ts)} rows (a year of 5-minute data) in {took:.2f} s "
          f"= {len(ts) / took:,.0f} rows/s")


if __name__ == "__main__":
    main()
