"""The causal detector and the `timestamp,value` CSV contract of `yuqing detect`."""
from __future__ import annotations

import csv
import math
import random
from datetime import datetime, timedelta

import numpy as np
import pytest

from alerts.detect import (
    MIN_HISTORY,
    SeriesError,
    analyse_series,
    detect_csv,
    score_series,
)

START = datetime(2026, 3, 1)
FIVE_MIN = timedelta(minutes=5)


def daily_cycle(days: int, seed: int, amplitude: float = 10.0) -> tuple[list[datetime], list[int]]:
    """5-minute counts around a sinusoidal daily cycle (high at 06:00, low at 18:00), Poisson noise."""
    rng = np.random.default_rng(seed)
    n = days * 288
    mean = 20 + amplitude * np.sin(2 * np.pi * np.arange(n) / 288)
    return [START + i * FIVE_MIN for i in range(n)], rng.poisson(mean).tolist()


def test_scores_do_not_look_ahead():
    ts, values = daily_cycle(5, seed=1)
    values[900] += 50
    full = score_series(ts, values, "both")
    for cut in (1, 3, MIN_HISTORY + 1, 30, 300, 901, 1200):
        assert score_series(ts[:cut], values[:cut], "both") == full[:cut]


def test_shape_range_and_warm_up():
    ts, values = daily_cycle(2, seed=2)
    scores = score_series(ts, values)
    assert len(scores) == len(values) and all(0.0 <= s <= 1.0 for s in scores)
    assert scores[:MIN_HISTORY] == [0.0] * MIN_HISTORY
    assert score_series([], []) == []


def test_planted_spike_stands_out_and_normal_rows_stay_low():
    ts, values = daily_cycle(6, seed=3)
    values[1500] += 40
    scores = np.array(score_series(ts, values))
    assert scores[1500] > 0.99
    assert np.mean(np.delete(scores, 1500)[MIN_HISTORY:] >= 0.95) < 0.002


def test_the_daily_cycle_is_the_baseline():
    """30 at night (where ~10 is normal) is a spike; 30 in the morning peak (~30 normal) is not."""
    ts, values = daily_cycle(8, seed=4)
    night, morning = 7 * 288 + 216, 7 * 288 + 72  # 18:00 and 06:00 on day 8
    values[night] = values[morning] = 30
    scores = score_series(ts, values)
    assert scores[night] > 0.95 and scores[morning] < 0.5
    _, baselines = analyse_series(ts, values)
    assert baselines[night] < 15 and baselines[morning] > 25


@pytest.mark.parametrize("direction, spike, drop", [("up", True, False), ("down", False, True), ("both", True, True)])
def test_direction(direction, spike, drop):
    ts, values = daily_cycle(3, seed=5, amplitude=0)
    values[500], values[700] = 60, 0
    scores = score_series(ts, values, direction)
    assert (scores[500] > 0.95) == spike and (scores[700] > 0.95) == drop


def test_sparse_counts_with_zeros():
    """A quiet series (mostly 0) gets no alarm for one stray mention, but does for a burst."""
    rnd = random.Random(6)
    values = [1 if rnd.random() < 0.1 else 0 for _ in range(200)]
    values[150], values[180] = 1, 8
    scores = score_series(list(range(0, 200 * 3600, 3600)), values)
    assert scores[150] < 0.5 and scores[180] > 0.95
    assert max(s for i, s in enumerate(scores) if i != 180) < 0.95


def test_continuous_values_use_a_robust_z():
    rng = np.random.default_rng(7)
    values = (100 + rng.normal(0, 0.5, 300)).tolist()
    values[250] = 104.5
    scores = score_series(list(range(300)), values)
    assert scores[250] > 0.95 and sorted(scores)[-2] < 0.95


def test_short_series_is_scored_without_errors():
    assert score_series([1, 2, 3], [5, 5, 100]) == [0.0, 0.0, 0.0]
    six = score_series(list(range(7)), [3, 4, 3, 5, 4, 3, 40])
    assert six[-1] > 0.95


def test_bad_series_input():
    with pytest.raises(SeriesError, match="direction"):
        score_series([1], [1], "sideways")
    with pytest.raises(SeriesError, match="row 2: value nan"):
        score_series([1, 2], [1, math.nan])
    with pytest.raises(SeriesError, match="row 3: timestamp is earlier"):
        score_series([1, 3, 2], [1, 1, 1])


def write(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def test_csv_keeps_rows_columns_and_text(tmp_path):
    ts, values = daily_cycle(2, seed=8)
    rows = [(t.strftime("%Y-%m-%d %H:%M:%S"), v, f"note{i}") for i, (t, v) in enumerate(zip(ts, values, strict=True))]
    rows[3] = ("2026-03-01T00:15:00", rows[3][1], "iso with T")
    write(tmp_path / "in.csv", ["timestamp", "value", "note"], rows)
    assert detect_csv(tmp_path / "in.csv", tmp_path / "out.csv") == len(rows)
    with open(tmp_path / "out.csv", encoding="utf-8") as f:
        out = list(csv.DictReader(f))
    assert [(r["timestamp"], r["value"], r["note"]) for r in out] == [tuple(map(str, row)) for row in rows]
    assert list(out[0]) == ["timestamp", "value", "note", "anomaly_score"]
    expected = score_series([datetime.fromisoformat(r[0]) for r in rows], [r[1] for r in rows])
    assert [float(r["anomaly_score"]) for r in out] == pytest.approx(expected, abs=1e-6)


def test_csv_accepts_epoch_seconds_and_aware_times(tmp_path):
    write(tmp_path / "a.csv", ["timestamp", "value"], [(1_700_000_000 + 60 * i, i % 3) for i in range(20)])
    write(tmp_path / "b.csv", ["timestamp", "value"],
          [((START + timedelta(hours=i)).isoformat() + "+08:00", 2) for i in range(20)])
    assert detect_csv(tmp_path / "a.csv", tmp_path / "a.out") == 20
    assert detect_csv(tmp_path / "b.csv", tmp_path / "b.out") == 20


@pytest.mark.parametrize("header, rows, words", [
    (["time", "value"], [("2026-03-01", 1)], "line 1: header lacks column(s) timestamp"),
    (["timestamp", "value"], [("2026-03-01 00:00", 1), ("2026-03-01 00:05", "")], "line 3: value '' is not a number"),
    (["timestamp", "value"], [("2026-03-01 00:00", 1), ("2026-03-01 00:05", "abc")], "line 3: value 'abc'"),
    (["timestamp", "value"], [("2026-03-01 00:00", 1), ("2026-03-01 00:05", "inf")],
     "line 3: value 'inf' is not a finite"),
    (["timestamp", "value"], [("yesterday", 1)], "line 2: timestamp 'yesterday'"),
    (["timestamp", "value"], [("2026-03-01 00:00", 1, "x")], "line 2: 3 fields, the header has 2"),
    (["timestamp", "value"], [("2026-03-01 00:05", 1), ("2026-03-01 00:00", 1)], "line 3: timestamp is earlier"),
    (["timestamp", "value"], [("2026-03-01 00:00", 1), ("2026-03-01 00:05+08:00", 1)],
     "line 3: timestamp '2026-03-01 00:05+08:00' mixes"),
])
def test_csv_errors_name_the_line(tmp_path, header, rows, words):
    write(tmp_path / "in.csv", header, rows)
    with pytest.raises(SeriesError) as info:
        detect_csv(tmp_path / "in.csv", tmp_path / "out.csv")
    assert words in str(info.value) and str(tmp_path / "in.csv") in str(info.value)
    assert not (tmp_path / "out.csv").exists()


def hourly_cycle(days: int, level: float = 30.0) -> tuple[list[float], np.ndarray]:
    """Epoch-second timestamps of hourly buckets and their mean count: a daily cycle, level ± 40 %."""
    hours = np.arange(days * 24)
    mean = level * (1 + 0.4 * np.sin(2 * np.pi * hours / 24))
    return [1_772_236_800.0 + 3600 * h for h in hours], mean


def test_causal_at_many_cut_points_with_gaps_bursts_and_a_switch_to_measurements():
    rng = np.random.default_rng(11)
    ts, mean = hourly_cycle(20)
    values = rng.poisson(mean).astype(float)
    values[200], values[300:312] = values[200] + 80, values[300:312] + 25
    keep = rng.random(len(values)) > 0.15
    keep[350:380] = False  # an outage
    ts, values = [t for t, k in zip(ts, keep, strict=True) if k], values[keep]
    values[-40] += 0.5  # from here on the series is no longer counts
    for direction in ("up", "down", "both"):
        full = score_series(ts, values.tolist(), direction)
        for cut in sorted(set(rng.integers(1, len(values), 25).tolist()) | {MIN_HISTORY, len(values) - 39}):
            assert score_series(ts[:cut], values[:cut].tolist(), direction) == full[:cut], (direction, cut)


@pytest.mark.parametrize("kind", ["counts", "heavy-tailed"])
def test_scores_rise_with_the_surprise(kind):
    """Raising a row never lowers its score, also where the heavy-tail correction takes over."""
    ts, values = daily_cycle(4, seed=12)
    steps = np.arange(0, 60, 1)  # whole numbers: a fraction would make the counts measurements
    if kind == "heavy-tailed":
        values = (100 + 2 * np.random.default_rng(12).standard_t(3, len(values))).tolist()
        steps = np.arange(0, 60, 0.5)
    row = 3 * 288 + 100
    scores = []
    for extra in steps:
        bumped = list(values)
        bumped[row] += float(extra)
        scores.append(score_series(ts, bumped)[row])
    assert scores == sorted(scores) and scores[0] < 0.5 and scores[-1] > 0.99


def test_a_new_level_stops_alerting():
    """Mentions double for good: the first hours of the new level alert; once the recent level has
    predicted better than the stale daily profile for long enough (two days here), they stop."""
    rng = np.random.default_rng(13)
    ts, mean = hourly_cycle(16)
    mean[10 * 24:] *= 2
    values = rng.poisson(mean).tolist()
    scores = np.array(score_series(ts, values))
    assert scores[10 * 24:10 * 24 + 6].max() > 0.95
    assert scores[13 * 24:].max() < 0.95


def test_gaps_in_the_series_keep_the_daily_profile():
    """Missing hours (and a whole missing day) do not raise alarms or hide a spike after them."""
    rng = np.random.default_rng(14)
    ts, mean = hourly_cycle(14)
    values = rng.poisson(mean)
    keep = rng.random(len(values)) > 0.2
    keep[8 * 24:9 * 24] = False
    spike = 10 * 24 + 3
    values[spike] += 45
    keep[spike] = True
    kept_ts = [t for t, k in zip(ts, keep, strict=True) if k]
    scores = np.array(score_series(kept_ts, values[keep].tolist()))
    at = int(np.sum(keep[:spike]))
    assert scores[at] > 0.99
    assert np.sum(np.delete(scores, at) >= 0.95) <= 1


def test_a_dead_source_is_a_drop_not_a_spike():
    rng = np.random.default_rng(15)
    ts, mean = hourly_cycle(8, level=40)
    values = rng.poisson(mean)
    values[6 * 24:6 * 24 + 8] = 0
    down = np.array(score_series(ts, values.tolist(), "down"))
    up = np.array(score_series(ts, values.tolist(), "up"))
    assert down[6 * 24:6 * 24 + 3].min() > 0.99 and up.max() < 0.95
    assert np.sum(down[24:6 * 24 - 1] >= 0.95) == 0  # the first day has no daily profile yet


def test_a_sustained_burst_is_found_though_no_single_row_is_extreme():
    """Twelve 5-minute buckets each only ~2.5 sd above normal: together far rarer than a day's noise."""
    rng = np.random.default_rng(16)
    n = 6 * 288
    mean = 20 + 12 * np.sin(2 * np.pi * np.arange(n) / 288)
    burst = slice(5 * 288 + 40, 5 * 288 + 52)
    mean[burst] += 2.5 * np.sqrt(mean[burst])
    values = rng.poisson(mean).tolist()
    scores = np.array(score_series([START + i * FIVE_MIN for i in range(n)], values))
    assert scores[burst].max() > 0.95
    assert np.sum(scores >= 0.95) - np.sum(scores[burst.start:burst.stop + 6] >= 0.95) <= 1


def test_quiet_weekends_are_learnt():
    """With weekends at a third of weekday traffic, Monday mornings stop looking like spikes."""
    rng = np.random.default_rng(17)
    ts, mean = hourly_cycle(35)
    weekday = ((np.array(ts) // 86400).astype(int) + 3) % 7  # 1970-01-01 was a Thursday
    mean = np.where(weekday >= 5, mean / 3, mean)
    values = rng.poisson(mean).tolist()
    scores = np.array(score_series(ts, values))
    assert np.sum(scores[21 * 24:] >= 0.95) == 0
