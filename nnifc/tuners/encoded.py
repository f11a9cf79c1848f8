"""Finished trials encoded once for TPE, grown as the history grows.

Why: a proposal with 10,000 finished trials spent most of its time turning every trial's
parameters back into model coordinates and comparing the candidate with every known point, in
Python, again and again. The scheduler only ever appends to its history, so rows already encoded
are kept (numpy arrays with room to grow) and only new trials are encoded; a history that is not
an extension of the one seen last (checked by the identity of sampled entries) is encoded anew,
so a tuner stays a pure function of (history, pending, rng).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nnifc.records import Params, Result

Encoder = Callable[[Sequence[Params]], tuple[NDArray[np.float64], NDArray[np.int64]]]


def freeze(value: Any) -> Hashable:
    """A hashable stand-in equal exactly when the values are equal (dicts, lists, numbers)."""
    if isinstance(value, dict):
        return ("{}", frozenset((k, freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return ("[]", tuple(freeze(v) for v in value))
    return value  # type: ignore[no-any-return]


class EncodedHistory:
    def __init__(self, encode: Encoder, numeric: int, categorical: int) -> None:
        self._encode = encode
        self._shape = (numeric, categorical)
        self._clear()

    def _clear(self) -> None:
        self.results: list[Result] = []
        self.params: list[Params] = []
        self.known: set[Hashable] = set()
        self._numeric = np.empty((16, self._shape[0]))
        self._categorical = np.empty((16, self._shape[1]), dtype=np.int64)
        self._losses = np.empty(16)

    def update(self, history: Sequence[Result]) -> None:
        n = len(self.results)
        if len(history) < n or any(history[i] is not self.results[i] for i in _probes(n)):
            self._clear()
            n = 0
        new = history[n:]
        if not new:
            return
        numeric, categorical = self._encode([r.params for r in new])
        end = n + len(new)
        if end > len(self._losses):
            size = max(end, 2 * len(self._losses))
            self._numeric = _grown(self._numeric, size)
            self._categorical = _grown(self._categorical, size)
            self._losses = _grown(self._losses, size)
        self._numeric[n:end] = numeric
        self._categorical[n:end] = categorical
        self._losses[n:end] = [r.loss for r in new]
        self.results.extend(new)
        self.params.extend(r.params for r in new)
        self.known.update(freeze(r.params) for r in new)

    @property
    def numeric(self) -> NDArray[np.float64]:
        return self._numeric[: len(self.results)]

    @property
    def categorical(self) -> NDArray[np.int64]:
        return self._categorical[: len(self.results)]

    @property
    def losses(self) -> NDArray[np.float64]:
        return self._losses[: len(self.results)]


def _probes(n: int) -> list[int]:
    """Entries whose identity shows whether a history extends the one encoded (n entries)."""
    return sorted({0, n // 4, n // 2, 3 * n // 4, n - 1}) if n else []


def _grown(array: NDArray[Any], size: int) -> NDArray[Any]:
    grown = np.empty((size, *array.shape[1:]), dtype=array.dtype)
    grown[: len(array)] = array
    return grown
