"""Load another version of the detector module (e.g. `git show main:alerts/detect.py > old.py`)
so a benchmark can score it alongside the current one in the same run."""
from __future__ import annotations

import importlib.util
from collections.abc import Callable


def load_score_series(path: str) -> Callable[..., list[float]]:
    """`score_series(timestamps, values, direction)` of the module in `path`."""
    spec = importlib.util.spec_from_file_location("detect_compared", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{path}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.score_series
