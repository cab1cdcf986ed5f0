"""Work in progress on a time grid and Little's law as its consistency check."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from flowlens.analysis.bottlenecks.grid import period_starts, time_grid
from flowlens.errors import ConfigError

if TYPE_CHECKING:
    import ibis

    from flowlens.timing.model import TimeModel

US = 1_000_000


def _bucketize(t: ibis.Table, col: str, grid: np.ndarray) -> ibis.Table:
    """Add the period index ``fl_k`` of ``col`` (t_k <= value < t_{k+1}) and the period's
    bounds ``fl_lo``, ``fl_hi``: a nominal index by arithmetic, corrected by one period where
    local days are 23 or 25 hours long (an equi-join with the small grid table)."""
    import ibis

    k = np.arange(len(grid) - 1, dtype=np.int64)
    lo, hi = grid[:-1], grid[1:]
    nominal = int(np.median(hi - lo))
    g = ibis.memtable(
        pd.DataFrame(
            {
                "g_k": k,
                "g_lo": lo,
                "g_hi": hi,
                "g_prev_lo": np.concatenate([[lo[0]], lo[:-1]]),
                "g_next_hi": np.concatenate([hi[1:], [hi[-1]]]),
            }
        )
    )
    approx = ((t[col] - int(grid[0])) / nominal).floor().cast("int64")
    approx = ibis.greatest(ibis.least(approx, int(k[-1])), 0)
    x = t.mutate(fl_k0=approx)
    j = x.join(g, x.fl_k0 == g.g_k)
    before = j[col] < j.g_lo
    after = j[col] >= j.g_hi
    return j.mutate(
        fl_k=ibis.ifelse(before, j.g_k - 1, ibis.ifelse(after, j.g_k + 1, j.g_k)),
        fl_lo=ibis.ifelse(before, j.g_prev_lo, ibis.ifelse(after, j.g_hi, j.g_lo)),
        fl_hi=ibis.ifelse(before, j.g_lo, ibis.ifelse(after, j.g_next_hi, j.g_hi)),
    ).drop("fl_k0", "g_k", "g_lo", "g_hi", "g_prev_lo", "g_next_hi")


def _occupancy(
    intervals: ibis.Table, keys: list[str], grid: np.ndarray
) -> dict[tuple[Any, ...], pd.DataFrame]:
    """For intervals [a, b) (columns ``a``, ``b`` plus ``keys``): per key and grid period k,
    the number open at t_k (a <= t_k < b), the time average over [t_k, t_{k+1}) and the number
    that began in the period. Computed from +1/-1 events per period in the engine; the
    cumulative sums run over the small per-period result."""
    import ibis

    iv = intervals.filter(intervals.a.notnull() & intervals.b.notnull() & (intervals.b > intervals.a))
    ev = iv.select(*keys, t=iv.a, d=ibis.literal(1)).union(iv.select(*keys, t=iv.b, d=ibis.literal(-1)))
    ev = _bucketize(ev, "t", grid)
    rem = (ev.fl_hi - ev.t).cast("float64")
    per = ev.group_by([*keys, "fl_k"]).aggregate(
        n_in=ev.count(where=ev.d == 1),
        n_out=ev.count(where=ev.d == -1),
        edge_in=ev.count(where=(ev.d == 1) & (ev.t == ev.fl_lo)),
        edge_out=ev.count(where=(ev.d == -1) & (ev.t == ev.fl_lo)),
        rem_in=rem.sum(where=ev.d == 1),
        rem_out=rem.sum(where=ev.d == -1),
    )
    df = per.to_pandas()
    n = len(grid) - 1
    width = (grid[1:] - grid[:-1]).astype("float64")
    out: dict[tuple[Any, ...], pd.DataFrame] = {}
    groups = df.groupby(keys, dropna=False, sort=True) if keys else [((), df)]
    for key, part in groups:
        full = part.set_index("fl_k")[["n_in", "n_out", "edge_in", "edge_out", "rem_in", "rem_out"]]
        full = full.astype("float64").reindex(np.arange(n), fill_value=0.0).fillna(0.0)
        cin, cout = full.n_in.cumsum().to_numpy(), full.n_out.cumsum().to_numpy()
        before_in = np.concatenate([[0.0], cin[:-1]])
        before_out = np.concatenate([[0.0], cout[:-1]])
        at = before_in + full.edge_in.to_numpy() - before_out - full.edge_out.to_numpy()
        avg = (before_in - before_out) + (full.rem_in.to_numpy() - full.rem_out.to_numpy()) / width
        k = key if isinstance(key, tuple) else (key,)
        out[k] = pd.DataFrame(
            {"at": np.rint(at).astype("int64"), "avg": avg, "began": full.n_in.to_numpy().astype("int64")}
        )
    return out


def wip_over_time(tm: TimeModel, *, freq: str = "D", by: str | None = None) -> pd.DataFrame:
    """Work in progress on a time grid (``freq``: ``h`` hours, ``D`` local days, ``W`` weeks).

    One row per period start ``time`` (in the log's zone; ``period_s`` is the period's length,
    23 or 25 hours for local days across a DST change), with, at that instant, ``open_cases``
    (cases with first start <= t < last end), ``waiting`` (instances enabled but not started:
    en <= t < en + WT) and ``in_service`` (started, not ended: s <= t < e), and the same counts
    averaged over the period (``*_avg``, the exact time average, so that summing ``*_avg``
    times the period lengths gives the total time spent). ``arrivals`` counts cases starting in
    the period. With ``by="activity"`` there is one row per period and activity (``waiting``,
    ``in_service``, their averages, and ``enabled``: waits that began in the period).

    >>> import flowlens, pandas as pd
    >>> from flowlens.timing.model import time_model
    >>> df = pd.DataFrame({"case": ["1", "2"], "activity": ["a", "a"],
    ...                    "start": pd.to_datetime(["2024-01-01 09:00", "2024-01-01 09:30"]),
    ...                    "end": pd.to_datetime(["2024-01-01 10:30", "2024-01-01 10:00"])})
    >>> w = wip_over_time(time_model(flowlens.read_log(df)), freq="h")
    >>> w.open_cases.tolist(), w.open_cases_avg.tolist()
    ([1, 1], [1.5, 0.5])
    """
    import ibis

    if by not in (None, "activity"):
        raise ConfigError(f"unknown grouping '{by}'; use by=None or by='activity'")
    tz = tm.log.timezone
    c, i = tm.cases, tm.instances
    bounds = c.aggregate(lo=c.start_us.min(), hi=c.end_us.max()).to_pandas().iloc[0]
    if pd.isna(bounds.lo):
        return pd.DataFrame()
    lo = int(bounds.lo)
    ib = i.aggregate(lo=i.enabled_us.min()).to_pandas().iloc[0]
    if not pd.isna(ib.lo):
        lo = min(lo, int(ib.lo))
    grid = time_grid(lo, int(bounds.hi), freq, tz)
    times = period_starts(grid, tz)
    period_s = (grid[1:] - grid[:-1]) / US
    keys = ["activity"] if by else []
    wait_iv = i.select(*keys, a=i.enabled_us, b=i.enabled_us + i.wait_us)
    serv_iv = i.filter(~i.wait_activity).select(*keys, a=i.start_us, b=i.start_us + i.proc_us)
    waiting = _occupancy(wait_iv, keys, grid)
    service = _occupancy(serv_iv, keys, grid)
    zero = pd.DataFrame({"at": np.zeros(len(times), "int64"), "avg": 0.0, "began": 0})
    if by is None:
        cases = _occupancy(c.select(a=c.start_us, b=c.end_us), [], grid).get((), zero)
        w = waiting.get((), zero)
        s = service.get((), zero)
        del ibis
        return pd.DataFrame(
            {
                "time": times,
                "period_s": period_s,
                "open_cases": cases["at"].to_numpy(),
                "open_cases_avg": cases["avg"].to_numpy(),
                "arrivals": cases["began"].to_numpy(),
                "waiting": w["at"].to_numpy(),
                "waiting_avg": w["avg"].to_numpy(),
                "in_service": s["at"].to_numpy(),
                "in_service_avg": s["avg"].to_numpy(),
            }
        )
    frames = []
    for key in sorted(set(waiting) | set(service), key=lambda k: str(k[0])):
        w = waiting.get(key, zero)
        s = service.get(key, zero)
        frames.append(
            pd.DataFrame(
                {
                    "time": times,
                    "period_s": period_s,
                    "activity": key[0],
                    "waiting": w["at"].to_numpy(),
                    "waiting_avg": w["avg"].to_numpy(),
                    "enabled": w["began"].to_numpy(),
                    "in_service": s["at"].to_numpy(),
                    "in_service_avg": s["avg"].to_numpy(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def littles_law(tm: TimeModel, wip: pd.DataFrame | None = None, *, freq: str = "D") -> dict[str, Any]:
    """Little's law L = lambda x W as a consistency check of the WIP series and the lead times.

    Over the grid window T (first to last period boundary): ``mean_wip`` = time-averaged open
    cases from :func:`wip_over_time`, ``arrival_rate_per_s`` = cases / T, ``mean_lead_s`` = mean
    lead time, ``lambda_w`` = their product and ``relative_gap`` = |L - lambda W| / lambda W. Over a
    window holding every case the two agree exactly; a gap means the WIP series is wrong.
    ``mean_wip_sampled`` is the plain mean of the counts at the period starts.

    >>> import flowlens, pandas as pd
    >>> from flowlens.timing.model import time_model
    >>> df = pd.DataFrame({"case": ["1", "2"], "activity": ["a", "a"],
    ...                    "start": pd.to_datetime(["2024-01-01 09:00", "2024-01-01 09:30"]),
    ...                    "end": pd.to_datetime(["2024-01-01 10:30", "2024-01-01 10:00"])})
    >>> round(littles_law(time_model(flowlens.read_log(df)), freq="h")["relative_gap"], 9)
    0.0
    """
    w = wip if wip is not None else wip_over_time(tm, freq=freq)
    c = tm.cases
    row = c.aggregate(n=c.count(), lead=c.lead_us.mean()).to_pandas().iloc[0]
    n = int(row.n)
    if w.empty or n == 0:
        return {"mean_wip": None, "arrival_rate_per_s": None, "mean_lead_s": None, "lambda_w": None}
    widths = w["period_s"].to_numpy(dtype=float)
    window_s = float(widths.sum())
    mean_wip = float((w["open_cases_avg"].to_numpy() * widths).sum() / window_s)
    lam = n / window_s
    lead = float(row.lead) / US
    lw = lam * lead
    return {
        "window_s": window_s,
        "mean_wip": mean_wip,
        "mean_wip_sampled": float(w["open_cases"].mean()),
        "arrival_rate_per_s": lam,
        "arrivals_per_day": lam * 86400,
        "mean_lead_s": lead,
        "lambda_w": lw,
        "relative_gap": abs(mean_wip - lw) / lw if lw > 0 else None,
    }
