"""The waiting-cause split by prefix sums: work bounded by the log, not by how long cases wait.

:func:`flowlens.analysis.waiting.waiting_causes` defines the split (methods 7.1) as a sweep over
the boundaries of every interval that covers a waiting interval: the resource's other work,
its shifts, the batch. Done literally, a wait of a week on a person who did 300 things that week
has 600 boundaries, so the sweep grows with the length of the waits times the load of the
resources (40 segments per wait on the bank demo, 8 million rows at 10^6 events). This module
computes the same five numbers per wait from tables whose size is the log's:

* per resource, its **timeline**: the disjoint segments of its busy time, each with the earliest
  enabled time among the instances then in progress (no enabled time counts as earliest),
  built with one range-minimum pass (:func:`_range_min`);
* per wait, after the batch (a prefix of the wait, ``x - en``): busy time in ``[x, wend)`` from a
  prefix sum over the segments, and **contention** (busy with work enabled no later than the
  wait's ready time) from a wavelet matrix over the segments' enabled-time ranks, which sums the
  lengths of the segments in a range whose value is at most a threshold in ``log2(n)`` steps;
  **prioritisation** is the rest of the busy time;
* per (resource, calendar), the resource's idle time cut by its calendar into on-shift pieces
  (one per shift row) and off-shift pieces: **unavailability** is the off-shift idle time after
  the last on-shift idle piece of at least ``ready_evidence`` that ended before the last
  off-shift piece (the sweep's evidence rule); **extraneous** the rest.

Everything is a sort, a cumulative sum or a binary search over arrays as long as the log's
instances (plus the calendar's shift rows per resource), so time is O(n log n) and memory
O(n) whatever the waits' length. The results equal the sweep's exactly (tests/test_waiting_split.py
compares them on generated and real logs); the few waits whose own instance lies inside their
waiting interval (a queue step with a performer) are left to the sweep, which excludes the
instance from its own contention.

Times are int64 microseconds. Several (resource, calendar) *groups* are handled at once by
offsetting each group's times into its own key range: ``key = group * span + (t - low)``.

>>> import numpy as np
>>> waits = {"group": np.array([0]), "x": np.array([0]), "wend": np.array([100]), "ready": np.array([0])}
>>> work = {"group": np.array([0, 0]), "s": np.array([10, 50]), "e": np.array([30, 60]),
...         "en": np.array([-5, 20])}
>>> out = split_groups(waits, work, [None], ready_evidence_us=3600)
>>> out["busy"].tolist(), out["contention"].tolist(), out["unavailability"].tolist()
([30], [20], [0])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

#: the enabled time of work without one: earlier than any wait's ready time (contention)
NO_ENABLED = np.iinfo(np.int64).min
_INF = np.iinfo(np.int64).max


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    """The distinct values of ``a``, sorted (np.unique's hash path is slow on int64 keys)."""
    a = np.sort(a)
    return a[np.concatenate([[True], a[1:] != a[:-1]])] if len(a) else a


def _pairs(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For ranges [lo_i, hi_i): (i, j) for every j in the range, in order of i then j."""
    n = np.maximum(hi - lo, 0)
    i = np.repeat(np.arange(len(lo), dtype=np.int64), n)
    start = np.repeat(lo - np.concatenate([[0], np.cumsum(n)[:-1]]), n)
    j = np.arange(int(n.sum()), dtype=np.int64) + start
    return i, j


def _range_min(m: int, lo: np.ndarray, hi: np.ndarray, v: np.ndarray) -> np.ndarray:
    """out[p] = min of v_k over the ranges [lo_k, hi_k) that contain p (``_INF`` where none).

    Each range is covered by two blocks of length 2^j (j = floor(log2(hi - lo))), the minima
    are pushed down level by level: O((m + len(v)) log(longest range))."""
    length = hi - lo
    level = np.zeros(len(v), dtype=np.int64)
    if len(v):
        level = np.floor(np.log2(np.maximum(length, 1))).astype(np.int64)
        # guard the float log at exact powers of two
        level -= (1 << level) > length
        level += (1 << (level + 1)) <= length
    top = int(level.max()) if len(v) else 0
    cur = np.full(m, _INF, dtype=np.int64)
    for j in range(top, -1, -1):
        upd = np.full(m, _INF, dtype=np.int64)
        sel = level == j
        if sel.any():
            np.minimum.at(upd, lo[sel], v[sel])
            np.minimum.at(upd, hi[sel] - (1 << j), v[sel])
        if j < top:
            # a block of 2^(j+1) at q covers the blocks of 2^j at q and q + 2^j
            upd = np.minimum(upd, cur)
            step = 1 << j
            if step < m:
                upd[step:] = np.minimum(upd[step:], cur[:-step])
        cur = upd
    return cur


def _wavelet_sums(
    values: np.ndarray, weights: np.ndarray, lo: np.ndarray, hi: np.ndarray, below: np.ndarray
) -> np.ndarray:
    """Per query q: the sum of ``weights[p]`` for p in [lo_q, hi_q) with ``values[p] < below_q``
    (values are ranks 0..k-1, ``below`` in 0..k), with a wavelet matrix built level by level."""
    out = np.zeros(len(lo), dtype=np.int64)
    if not len(values) or not len(lo):
        return out
    bits = max(int(values.max()).bit_length(), int(below.max()).bit_length(), 1)
    v, w = values.copy(), weights.copy()
    lo, hi = lo.copy(), hi.copy()
    for b in range(bits - 1, -1, -1):
        bit = (v >> b) & 1
        zero = 1 - bit
        c0 = np.concatenate([[0], np.cumsum(zero)])
        w0 = np.concatenate([[0], np.cumsum(w * zero)])
        nz = int(c0[-1])
        take = ((below >> b) & 1).astype(bool)
        # below has a 1 here: every value with a 0 here (same higher bits) is smaller
        out += np.where(take, w0[hi] - w0[lo], 0)
        lo = np.where(take, nz + lo - c0[lo], c0[lo])
        hi = np.where(take, nz + hi - c0[hi], c0[hi])
        order = np.concatenate([np.flatnonzero(zero), np.flatnonzero(bit)])
        v, w = v[order], w[order]
    return out


def _intersect(
    xs: np.ndarray, xe: np.ndarray, ys: np.ndarray, ye: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Non-empty intersections of two sorted lists of disjoint intervals [s, e), in order."""
    jlo = np.searchsorted(ye, xs, side="right")
    jhi = np.searchsorted(ys, xe, side="left")
    i, j = _pairs(jlo, jhi)
    s = np.maximum(xs[i], ys[j])
    e = np.minimum(xe[i], ye[j])
    keep = e > s
    return s[keep], e[keep]


def _measure(starts: np.ndarray, ends: np.ndarray, cum: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Length of the disjoint sorted intervals before each key ``t`` (``cum``: lengths before
    each interval, one longer than ``starts``)."""
    if not len(starts):
        return np.zeros(len(t), dtype=np.int64)
    j = np.searchsorted(starts, t, side="right") - 1
    jj = np.maximum(j, 0)
    part = np.clip(t - starts[jj], 0, ends[jj] - starts[jj])
    return np.where(j >= 0, cum[jj] + part, 0)


def _with_sentinels(
    s: np.ndarray, e: np.ndarray, groups: np.ndarray, span: int
) -> tuple[np.ndarray, np.ndarray]:
    """Intervals plus an empty one at each listed group's first and last key (sorted)."""
    base = groups.astype(np.int64) * span
    s = np.concatenate([s, base, base + span - 1])
    e = np.concatenate([e, base, base + span - 1])
    order = np.lexsort((e, s))
    return s[order], e[order]


def _gaps(s: np.ndarray, e: np.ndarray, span: int) -> tuple[np.ndarray, np.ndarray]:
    """The gaps between consecutive intervals of the same group (intervals sorted, disjoint,
    with the sentinels of :func:`_with_sentinels`)."""
    if len(s) < 2:
        return s[:0], e[:0]
    same = (s[1:] // span) == (s[:-1] // span)
    gs, ge = e[:-1], s[1:]
    keep = same & (ge > gs)
    return gs[keep], ge[keep]


def split_groups(
    waits: Mapping[str, np.ndarray],
    work: Mapping[str, np.ndarray],
    rows: Sequence[tuple[np.ndarray, np.ndarray] | None],
    *,
    ready_evidence_us: int,
) -> dict[str, np.ndarray]:
    """Busy, contention and unavailability time of each wait over ``[x, wend)``.

    ``waits``: ``group``, ``x`` (the end of the batch part, else the wait's start), ``wend``,
    ``ready`` per wait. ``work``: ``group``, ``s``, ``e`` (e > s) and ``en`` (``NO_ENABLED``
    when unknown) of the resource's intervals, repeated for every group of that resource.
    ``rows[g]``: the on-shift intervals (sorted starts, ends) of group g's calendar, or None
    when it is always on shift. Prioritisation is busy - contention and extraneous the rest
    of ``wend - x``.
    """
    ng = len(rows)
    gw, x, wend, ready = (np.asarray(waits[k], dtype=np.int64) for k in ("group", "x", "wend", "ready"))
    gk, ks, ke, ken = (np.asarray(work[k], dtype=np.int64) for k in ("group", "s", "e", "en"))
    n = len(gw)
    if n == 0:
        z = np.zeros(0, dtype=np.int64)
        return {"busy": z, "contention": z, "unavailability": z}
    # One key range per group; times of every group fit [low, high] with room for the evidence
    # rule at both ends (an idle stretch reaching past the data is long enough).
    pad = int(ready_evidence_us) + 1
    lows = [x.min(), ks.min() if len(ks) else x.min()]
    highs = [wend.max(), ke.max() if len(ke) else wend.max()]
    low = int(min(lows)) - pad - 1
    high = int(max(highs)) + pad + 1
    span = high - low + 1
    if ng * span >= 2**62:
        raise OverflowError("too many groups for one key range: split them")

    def key(g: np.ndarray, t: np.ndarray) -> np.ndarray:
        return g * span + (np.clip(t, low, high) - low)

    X, W = key(gw, x), key(gw, wend)
    # Queries in key order: every binary search below then walks its array in one direction
    # (several times faster than random probes into arrays of millions).
    qorder = np.argsort(X, kind="stable")
    X, W, ready, gw = X[qorder], W[qorder], ready[qorder], gw[qorder]

    # The timeline: busy segments between consecutive boundaries of the groups' work.
    ks_k, ke_k = key(gk, ks), key(gk, ke)
    korder = np.argsort(ks_k, kind="stable")
    ks_k, ke_k, ken = ks_k[korder], ke_k[korder], ken[korder]
    bounds = _sorted_unique(np.concatenate([ks_k, ke_k]))
    if len(bounds) >= 2:
        lo = np.searchsorted(bounds, ks_k)
        hi = np.searchsorted(bounds, ke_k)
        m = _range_min(len(bounds) - 1, lo, hi, ken)
        busy_seg = m < _INF
        g0, g1, gm = bounds[:-1][busy_seg], bounds[1:][busy_seg], m[busy_seg]
    else:
        g0 = g1 = gm = np.zeros(0, dtype=np.int64)
    glen = g1 - g0
    cum = np.concatenate([[0], np.cumsum(glen)])
    nseg = len(g0)
    busy = np.zeros(n, dtype=np.int64)
    contention = np.zeros(n, dtype=np.int64)
    if nseg:
        lo = np.searchsorted(g0, X, side="left")
        hi = np.searchsorted(g1, W, side="right")
        full = hi > lo
        busy += np.where(full, cum[np.maximum(hi, lo)] - cum[lo], 0)
        uniq = _sorted_unique(gm)
        rank = np.searchsorted(uniq, gm)
        below = np.searchsorted(uniq, ready, side="right")
        fl, fh = np.where(full, lo, 0), np.where(full, hi, 0)
        contention += _wavelet_sums(rank, glen, fl, fh, below)
        # the segments cut by the window's ends
        for j, ok in ((lo - 1, lo >= 1), (hi, (hi < nseg) & (hi != lo - 1))):
            jj = np.clip(j, 0, nseg - 1)
            ov = np.where(ok, np.maximum(np.minimum(g1[jj], W) - np.maximum(g0[jj], X), 0), 0)
            busy += ov
            contention += np.where(gm[jj] <= ready, ov, 0)

    # Idle time cut by the shifts, for the groups with a calendar that is not always open.
    shifted = np.array([r is not None for r in rows], dtype=bool)
    unavail = np.zeros(n, dtype=np.int64)
    if shifted.any():
        sg = np.flatnonzero(shifted).astype(np.int64)
        # busy blocks (adjacent segments merged), then idle gaps per group
        if nseg:
            new = np.concatenate([[True], g0[1:] != g1[:-1]])
            bs = g0[new]
            be = g1[np.concatenate([np.flatnonzero(new)[1:] - 1, [nseg - 1]])]
        else:
            bs = be = np.zeros(0, dtype=np.int64)
        in_sg = shifted[bs // span] if len(bs) else np.zeros(0, dtype=bool)
        bs, be = _with_sentinels(bs[in_sg], be[in_sg], sg, span)
        xs, xe = _gaps(bs, be, span)
        rs_l, re_l = [], []
        for g in sg.tolist():
            a, b = rows[g]  # type: ignore[misc]
            keep = (b > low) & (a < high)
            rs_l.append(key(np.full(int(keep.sum()), g, dtype=np.int64), a[keep]))
            re_l.append(key(np.full(int(keep.sum()), g, dtype=np.int64), b[keep]))
        rs = np.concatenate(rs_l) if rs_l else np.zeros(0, dtype=np.int64)
        re = np.concatenate(re_l) if re_l else np.zeros(0, dtype=np.int64)
        # on-shift idle pieces, one per shift row (the sweep splits idle time at every row)
        es, ee = _intersect(xs, xe, rs, re)
        # off-shift idle pieces
        os_, oe = _gaps(*_with_sentinels(rs, re, sg, span), span)
        ps, pe = _intersect(xs, xe, os_, oe)
        pcum = np.concatenate([[0], np.cumsum(pe - ps)])
        raw = _measure(ps, pe, pcum, W) - _measure(ps, pe, pcum, X)
        # the last off-shift piece in the window, and the evidence that the case was ready
        j = np.searchsorted(ps, W, side="left") - 1
        jj = np.maximum(j, 0)
        has_off = (j >= 0) & (pe[jj] > X) if len(ps) else np.zeros(n, dtype=bool)
        last_off = np.where(has_off, np.maximum(ps[jj] if len(ps) else 0, X), 0)
        long_ = (ee - es) >= int(ready_evidence_us)
        ls, le = es[long_], ee[long_]
        t_ready = np.zeros(n, dtype=np.int64)
        ready_ok = np.zeros(n, dtype=bool)
        if len(ls):
            k = np.searchsorted(le, last_off, side="right") - 1
            kk = np.maximum(k, 0)
            ready_ok = (
                has_off & (k >= 0) & (le[kk] > X) & (le[kk] - np.maximum(ls[kk], X) >= int(ready_evidence_us))
            )
            t_ready = np.where(ready_ok, le[kk], 0)
        after = _measure(ps, pe, pcum, W) - _measure(ps, pe, pcum, np.maximum(t_ready, X))
        unavail = np.where(ready_ok, after, raw)
        unavail = np.where(shifted[gw], unavail, 0)
    back = np.empty_like(qorder)
    back[qorder] = np.arange(n, dtype=np.int64)
    return {"busy": busy[back], "contention": contention[back], "unavailability": unavail[back]}


__all__ = ["NO_ENABLED", "split_groups"]
