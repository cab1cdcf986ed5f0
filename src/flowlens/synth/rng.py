"""Random streams: one independent stream per (seed, case, purpose).

Common random numbers need every case to draw from its *own* streams, so that a remedy that
adds or removes a step in one case cannot shift the numbers another case uses. Each stream is
keyed by ``(seed, process, case index, sub-key, purpose)`` (purposes: routing decisions, task
durations, customer behaviour, satisfaction); the key is hashed with BLAKE2b into a 128-bit
seed for Python's Mersenne Twister, which is several times faster than numpy for the scalar
draws a discrete-event simulation makes one at a time. (``numpy.random.SeedSequence`` would do
the same job at ~60 us per stream; hashing costs ~1 us, and streams are created lazily.)
Vectorised draws (arrivals, customers, noise) use numpy generators spawned from
``SeedSequence(seed, spawn_key=...)``.

>>> a = case_streams(7, "SI", 12)
>>> b = case_streams(7, "SI", 12)
>>> a.route.random() == b.route.random() and a.dur.random() == b.dur.random()
True
>>> case_streams(7, "SI", 13).route.random() != case_streams(7, "SI", 12).route.random()
True
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence

import numpy as np

#: Stable numeric codes of the processes (part of every stream's key).
PROCESS_CODES = {"AO": 1, "LN": 2, "CD": 3, "CP": 4, "SI": 5, "CPX": 6}
PURPOSES = ("route", "dur", "cust", "sat")


class Stream(random.Random):
    """A seeded stream with the draws the models use."""

    def lognorm(self, median: float, sigma: float) -> float:
        """Lognormal with the given median and log-sd (``median * exp(sigma * Z)``)."""
        return median * math.exp(sigma * self.gauss(0.0, 1.0))

    def bern(self, p: float) -> bool:
        return self.random() < p

    def pick(self, options: Sequence[str], weights: Sequence[float]) -> str:
        u = self.random() * sum(weights)
        acc = 0.0
        for o, w in zip(options, weights, strict=True):
            acc += w
            if u < acc:
                return o
        return options[-1]


def _seed_of(*key: int | str) -> int:
    text = "/".join(str(k) for k in key).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=16).digest(), "little")


class CaseStreams:
    """The streams of one case, created on first use."""

    __slots__ = ("_key", "_s")

    def __init__(self, key: tuple[int, int, int, int]) -> None:
        self._key = key
        self._s: list[Stream | None] = [None, None, None, None]

    def _get(self, i: int) -> Stream:
        s = self._s[i]
        if s is None:
            s = self._s[i] = Stream(_seed_of(*self._key, PURPOSES[i]))
        return s

    @property
    def route(self) -> Stream:
        return self._get(0)

    @property
    def dur(self) -> Stream:
        return self._get(1)

    @property
    def cust(self) -> Stream:
        return self._get(2)

    @property
    def sat(self) -> Stream:
        return self._get(3)


def case_streams(seed: int, process: str, index: int, sub: int = 0) -> CaseStreams:
    """The streams of one case (``sub`` separates derived cases, e.g. triggered complaints)."""
    return CaseStreams((int(seed), PROCESS_CODES[process], int(index), int(sub)))


def named_stream(seed: int, *key: int) -> Stream:
    """A stream for a non-case purpose (team speeds, background work, noise)."""
    return Stream(_seed_of(int(seed), 999, *key))


def numpy_rng(seed: int, *key: int) -> np.random.Generator:
    """A numpy generator for vectorised draws (arrivals, customers, noise)."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(998, *key)))
