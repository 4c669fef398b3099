"""What the detector benchmarks share: loading another version of the detector module (e.g.
`git show main:alerts/detect.py > old.py`) to score alongside in the same run, and timing."""
from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def load_score_series(path: str) -> Callable[..., list[float]]:
    """`score_series(timestamps, values, direction)` of the module in `path`."""
    spec = importlib.util.spec_from_file_location("detect_compared", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{path}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.score_series


def timed(detectors: Mapping[str, Callable[[T], R]], items: Iterable[T],
          seconds: dict[str, float]) -> Iterator[tuple[T, dict[str, R]]]:
    """Each item with every detector's answer for it, adding each detector's time to `seconds`."""
    for item in items:
        answers = {}
        for name, detect in detectors.items():
            began = time.perf_counter()
            answers[name] = detect(item)
            seconds[name] += time.perf_counter() - began
        yield item, answers
