"""Anomaly detection for the alert rules and `yuqing detect`: causal scores that rank, severity
levels, negative share, source silence and new-term bursts.

* `analyse_series` / `score_series`: per-row scores of a volume series (`stream.Detector`);
* `analyse_share`: the same for the negative share of mentions (negatives out of a total);
* `severity`: 关注 / 预警 / 紧急 from a score and a count;
* `detect_csv`: the `yuqing detect` contract (`table`);
* `source_silence` (`silence`) and `term_bursts` (`terms`).
"""
from __future__ import annotations

from alerts.detect.series import (
    SEVERITIES,
    SeriesError,
    SeriesScores,
    analyse_series,
    analyse_share,
    score_series,
    severity,
)
from alerts.detect.silence import Silence, source_silence
from alerts.detect.stream import DIRECTIONS, MIN_HISTORY, Detector, score_from_decades
from alerts.detect.table import DetectReport, detect_csv
from alerts.detect.terms import TermBurst, term_bursts

__all__ = [
    "DIRECTIONS", "MIN_HISTORY", "SEVERITIES", "DetectReport", "Detector", "SeriesError", "SeriesScores",
    "Silence", "TermBurst", "analyse_series", "analyse_share", "detect_csv", "score_from_decades",
    "score_series", "severity", "source_silence", "term_bursts",
]
