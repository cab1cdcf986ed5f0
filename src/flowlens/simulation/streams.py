"""Random numbers keyed by what they decide (common random numbers, methods §16.4).

A simulation draws each random number from a counter-based generator: the uniform for "the
duration of case 17's second visit to Check identity" is a hash of (seed, stream, 17, activity,
2) and nothing else. A scenario that removes a step therefore changes no other case's
arrivals, routing, durations or delays: the same draws are made for everything it leaves
alone, and a scenario that changes nothing reproduces the baseline bit for bit. The hash is
SplitMix64 (Steele, Lea, Flood 2014), whose output passes BigCrush; keys are mixed in one at a
time, vectorised over numpy arrays.

>>> u = uniforms(7, "durations", [0, 0, 1], [3, 3, 3], [1, 2, 1])
>>> bool(((0 <= u) & (u < 1)).all()), bool(u[0] != u[1])
(True, True)
>>> float(uniforms(7, "durations", [0], [3], [1])[0]) == float(u[0])
True
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

#: The purposes draws are made for; each has its own stream.
STREAMS = (
    "arrivals",
    "attributes",
    "routing",
    "durations",
    "delays",
    "pools",
    "members",
    "other_work",
    "patience",
    "abandonment",
)

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def stream_key(seed: int, stream: str) -> np.uint64:
    """The 64-bit key of one purpose under one seed."""
    if stream not in STREAMS:
        raise ValueError(f"unknown random stream '{stream}'")
    with np.errstate(over="ignore"):
        z = np.uint64(seed & 0xFFFFFFFFFFFFFFFF) * _GOLDEN + np.uint64(zlib.crc32(stream.encode()))
        return _mix(np.array([z], dtype=np.uint64))[0]


def uniforms(seed: int, stream: str, *keys: Sequence[int] | np.ndarray | int) -> np.ndarray:
    """Uniforms in [0, 1), one per position of the (broadcast) integer ``keys``."""
    arrays = np.broadcast_arrays(*[np.asarray(k, dtype=np.int64) for k in keys])
    with np.errstate(over="ignore"):
        z = np.full(arrays[0].shape, stream_key(seed, stream), dtype=np.uint64)
        for k in arrays:
            z = _mix(z + _GOLDEN + k.astype(np.uint64))
    # the top 53 bits as a double in [0, 1)
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


__all__ = ["STREAMS", "stream_key", "uniforms"]
