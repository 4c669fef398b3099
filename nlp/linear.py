"""A sparse linear model stored in one small binary file and scored in pure Python.

Run time needs neither numpy nor scikit-learn: loading is a UTF-8 split and an `array` read
(tens of milliseconds), and scoring one text touches only its own few hundred features.

File layout: b"YQLM1\\n", one line of JSON (outputs, bias, calibration, provenance), then the
feature names joined by "\\n" (UTF-8, length given in the header) and the float32 weights,
row-major, one row of len(outputs) per feature.
"""
from __future__ import annotations

import hashlib
import json
import sys
from array import array
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

MAGIC = b"YQLM1\n"
_SEP = "\x00"  # normalised text has no control characters, so no feature contains this


class ModelFileError(ValueError):
    """A model file that cannot be used; the message names the file."""


class LinearModel:
    def __init__(self, features: Sequence[str], weights: array, bias: Sequence[float], meta: dict[str, Any]) -> None:
        self.outputs = len(bias)
        if len(weights) != len(features) * self.outputs:
            raise ValueError(f"{len(weights)} weights for {len(features)} features × {self.outputs} outputs")
        self._index = {f: i * self.outputs for i, f in enumerate(features)}
        self._weights = weights
        self.bias = list(bias)
        self.meta = meta
        self.digest = ""  # SHA-256 of the file it was loaded from

    @property
    def features(self) -> list[str]:
        """The feature names that carry weights, in file order."""
        return list(self._index)

    def scores(self, features: Iterable[str]) -> list[float]:
        """Raw scores (logits), one per output; each distinct feature counts once."""
        out = list(self.bias)
        w, index, k = self._weights, self._index, self.outputs
        for f in set(features):
            i = index.get(f)
            if i is not None:
                for c in range(k):
                    out[c] += w[i + c]
        return out

    def top(self, features: Iterable[str], combine: Sequence[float], n: int) -> list[tuple[str, float]]:
        """The `n` distinct features that raise Σₖ combine[k]·score[k] most, with that rise: the
        cues behind a decision (combine picks the decision's outputs)."""
        w, index = self._weights, self._index
        rises = []
        for f in set(features):
            i = index.get(f)
            if i is not None:
                rise = sum(c * w[i + k] for k, c in enumerate(combine) if c)
                if rise > 0:
                    rises.append((rise, f))
        return [(f, round(r, 3)) for r, f in sorted(rises, reverse=True)[:n]]

    def save(self, path: Path) -> None:
        names = self.features
        blob = _SEP.join(names).encode("utf-8")
        header = {**self.meta, "bias": self.bias, "features": len(names), "names_bytes": len(blob)}
        weights = array("f", self._weights)
        if sys.byteorder != "little":
            weights.byteswap()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(MAGIC + json.dumps(header, ensure_ascii=False).encode() + b"\n" + blob + weights.tobytes())

    @classmethod
    def load(cls, path: Path) -> LinearModel:
        try:
            data = path.read_bytes()
        except OSError as e:
            raise ModelFileError(f"{path}: cannot read model file ({e.strerror})") from None
        if not data.startswith(MAGIC):
            raise ModelFileError(f"{path}: not a yuqing model file (rebuild it with `yuqing train`)")
        try:
            end = data.index(b"\n", len(MAGIC))
            header = json.loads(data[len(MAGIC):end])
            start = end + 1
            names = data[start:start + header["names_bytes"]].decode("utf-8").split(_SEP)
            weights = array("f")
            weights.frombytes(data[start + header["names_bytes"]:])
        except (ValueError, KeyError) as e:
            raise ModelFileError(f"{path}: damaged model file ({e})") from None
        if sys.byteorder != "little":
            weights.byteswap()
        bias = header.pop("bias")
        for key in ("features", "names_bytes"):
            header.pop(key)
        try:
            model = cls(names if names != [""] else [], weights, bias, header)
        except ValueError as e:
            raise ModelFileError(f"{path}: damaged model file ({e})") from None
        model.digest = hashlib.sha256(data).hexdigest()
        return model
