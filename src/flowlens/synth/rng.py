"""Random streams: one independent stream per (seed, case, purpose).

Common random numbers need every case to draw from its *own* streams, so that a remedy that
adds or removes a step in one case cannot shift the numbers another case uses. Streams are
derived with :class:`numpy.random.SeedSequence` from ``(seed, process, case index)`` and split by
purpose (routing decisions, task durations, customer behaviour, satisfaction), then driven by
Python's Mersenne Twister, which is several times faster than numpy for the scalar draws a
discrete-event simulation makes one at a time.

>>> a = case_streams(7, "SI", 12)
>>> b = case_streams(7, "SI", 12)
>>> a.route.random() == b.route.random() and a.dur.random() == b.dur.random()
True
>>> case_streams(7, "SI", 13).route.random() != case_streams(7, "SI", 12).route.random()
True
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

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


@dataclass
class CaseStreams:
    route: Stream
    dur: Stream
    cust: Stream
    sat: Stream


def _words(seed: int, key: tuple[int, ...], n: int) -> list[int]:
    ss = np.random.SeedSequence(int(seed), spawn_key=key)
    return [int(x) for x in ss.generate_state(n, np.uint64)]


def case_streams(seed: int, process: str, index: int, sub: int = 0) -> CaseStreams:
    """The four streams of one case (``sub`` separates derived cases, e.g. triggered complaints)."""
    w = _words(seed, (PROCESS_CODES[process], int(index), int(sub)), 2 * len(PURPOSES))
    streams = [Stream((w[2 * i] << 64) | w[2 * i + 1]) for i in range(len(PURPOSES))]
    return CaseStreams(*streams)


def named_stream(seed: int, *key: int) -> Stream:
    """A stream for a non-case purpose (team speeds, background work, noise)."""
    w = _words(seed, (999, *key), 2)
    return Stream((w[0] << 64) | w[1])


def numpy_rng(seed: int, *key: int) -> np.random.Generator:
    """A numpy generator for vectorised draws (arrivals, customers, noise)."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(998, *key)))
