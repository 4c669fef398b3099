"""A sparse linear model stored in one small binary file, scored with numpy.

Run time needs no scikit-learn: loading is a UTF-8 split and an `array` read (tens of
milliseconds), and scoring one text looks up only its own few hundred features — in a dict, or
by number, all at once, for those an `Encoder` numbers (`KeyIndex`) — and gathers their rows of
weights in one numpy step (Python loops over them took most of `yuqing analyze`'s time).

File layout: b"YQLM1\\n", one line of JSON (outputs, bias, calibration, provenance), then the
feature names joined by "\\x00" (UTF-8, length given in the header) and the float32 weights,
row-major, one row of len(outputs) per feature.
"""
from __future__ import annotations

import hashlib
import json
import sys
from array import array
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property, reduce
from heapq import nlargest
from itertools import chain, compress, repeat
from operator import add, is_not
from pathlib import Path
from typing import Any

import numpy as np

MAGIC = b"YQLM1\n"
_SEP = "\x00"  # normalised text has no control characters, so no feature contains this


class ModelFileError(ValueError):
    """A model file that cannot be used; the message names the file."""


# Numbers for some features, one each and no two alike, and the positions of those features.
Encoder = Callable[[Sequence[str]], tuple[np.ndarray, np.ndarray]]


class Found:
    """The rows of the distinct features of one text that carry weights in a model
    (`LinearModel.find`): looked up once, and their weights gathered once, for both `scores` and
    `top`."""

    __slots__ = ("rows", "_model", "_weights")

    def __init__(self, rows: np.ndarray, model: LinearModel) -> None:
        self.rows, self._model = rows, model
        self._weights: np.ndarray | None = None

    @property
    def weights(self) -> np.ndarray:
        """Their rows of weights, as float64."""
        if self._weights is None:
            self._weights = self._model._weights[self.rows].astype(np.float64)
        return self._weights


class KeyIndex:
    """A model's features looked up by number: `keys` are the numbers of some of its `features` (one
    each, no two alike, as an `Encoder` gives them) and `rows` their positions; `rows(keys, names)`
    finds many at once, and those without a number by name."""

    def __init__(self, features: Sequence[str], keys: np.ndarray, rows: np.ndarray) -> None:
        order = np.argsort(keys)
        self._keys, self._rows = keys[order], rows[order]
        named = np.ones(len(features), dtype=bool)
        named[rows] = False
        at = np.flatnonzero(named).tolist()
        self._named = dict(zip(map(features.__getitem__, at), at, strict=True))

    def rows(self, keys: np.ndarray, names: Iterable[str] = ()) -> np.ndarray:
        """The rows of the distinct `keys` that are features, then of the distinct `names` that are
        features and have no number."""
        keys = np.sort(keys)  # sorted, the binary searches walk the index in one direction
        if len(keys):
            keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
        at = np.searchsorted(self._keys, keys)
        at[at == len(self._keys)] = 0
        found = self._rows[at[self._keys[at] == keys]] if len(self._keys) else np.zeros(0, dtype=np.intp)
        named = _known(self._named, names)
        return np.concatenate((found, np.array(named, dtype=np.intp))) if named else found


def _known(index: dict[str, int], features: Iterable[str]) -> list[int]:
    """The rows of the distinct `features` that `index` has, in the order of their set."""
    found = list(map(index.get, set(features)))
    return list(compress(found, map(is_not, found, repeat(None))))  # type: ignore[arg-type]


class LinearModel:
    def __init__(self, features: Sequence[str], weights: array, bias: Sequence[float], meta: dict[str, Any]) -> None:
        self.outputs = len(bias)
        if len(weights) != len(features) * self.outputs:
            raise ValueError(f"{len(weights)} weights for {len(features)} features × {self.outputs} outputs")
        self._names = list(features)
        self._weights = np.asarray(weights, dtype=np.float32).reshape(len(features), self.outputs)
        self._bias = np.array([bias], dtype=np.float64)
        self.bias = list(bias)
        self.meta = meta
        self.digest = ""  # SHA-256 of the file it was loaded from

    @cached_property
    def _index(self) -> dict[str, int]:
        # On first use: a model whose features are found by number (`KeyIndex`) never needs it, and
        # for the document model's 283k features it took about 50 ms of CPU at start-up.
        return dict(zip(self._names, range(len(self._names)), strict=True))

    @property
    def features(self) -> list[str]:
        """The feature names that carry weights, in file order."""
        return list(self._names)

    def key_index(self, encode: Encoder) -> KeyIndex:
        """This model's features by the numbers `encode` gives them (`KeyIndex`)."""
        return KeyIndex(self._names, *encode(self._names))

    def find(self, features: Iterable[str]) -> Found:
        """The distinct features that carry weights (`Found(KeyIndex.rows(...), model)` finds them by number)."""
        return Found(np.fromiter(_known(self._index, features), dtype=np.intp), self)

    def _found(self, features: Iterable[str] | Found) -> Found:
        if not isinstance(features, Found):
            return self.find(features)
        if features._model is not self:
            raise ValueError("those features were found in another model")
        return features

    def scores(self, features: Iterable[str] | Found) -> list[float]:
        """Raw scores (logits), one per output; each distinct feature counts once."""
        found = self._found(features)
        # Added one by one from the bias (`accumulate` is sequential) in the order found.
        return np.add.accumulate(np.concatenate((self._bias, found.weights)), axis=0)[-1].tolist()

    def scores_each(self, features: Sequence[Iterable[str]]) -> list[list[float]]:
        """`scores` of each list of features, with one gathering of weights for all: for many short
        lists (a text's entities), where numpy's cost per call would outweigh its work."""
        found = [_known(self._index, f) for f in features]
        columns = self._weights[np.fromiter(chain.from_iterable(found), dtype=np.intp)].astype(np.float64).T.tolist()
        out, at = [], 0
        for rows in found:
            end = at + len(rows)
            out.append([reduce(add, column[at:end], b) for column, b in zip(columns, self.bias, strict=True)])
            at = end
        return out

    def top(self, features: Iterable[str] | Found, combine: Sequence[float], n: int) -> list[tuple[str, float]]:
        """The `n` distinct features that raise Σₖ combine[k]·score[k] most, with that rise: the
        cues behind a decision (combine picks the decision's outputs)."""
        found = self._found(features)
        weights = found.weights
        rises = np.zeros(len(found.rows))
        for k, c in enumerate(combine):
            if c:
                rises = rises + c * weights[:, k]
        best = np.flatnonzero(rises > 0)
        if len(best) > n:  # the n largest, and any tied with the last of them
            best = best[rises[best] >= np.partition(rises[best], -n)[-n]]
        names = [self._names[i] for i in found.rows[best].tolist()]
        return [(f, round(r, 3)) for r, f in nlargest(n, zip(rises[best].tolist(), names, strict=True))]

    def save(self, path: Path) -> None:
        names = self.features
        blob = _SEP.join(names).encode("utf-8")
        header = {**self.meta, "bias": self.bias, "features": len(names), "names_bytes": len(blob)}
        weights = self._weights.astype("<f4").tobytes()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(MAGIC + json.dumps(header, ensure_ascii=False).encode() + b"\n" + blob + weights)

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
