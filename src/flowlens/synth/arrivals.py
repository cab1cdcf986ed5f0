"""Case arrivals: a non-homogeneous Poisson process with hour, weekday and month profiles.

The rate is piecewise constant by hour: ``daily x weekday x month x day-specials x hour
profile`` (domain.md 6.3: peaks 09-11 and 14-16, an evening app peak 20-22, Monday 1.25 ...
Sunday 0.5, mid-month and quarter-end surges). Drawing a Poisson count per hour and uniform
times within it is an exact sampler for such a rate, and vectorises. Arrivals depend only on
the seed and the process, never on a remedy, so every counterfactual sees the same customers
arrive at the same instants.

>>> from datetime import date
>>> t = arrival_times(7, "card_dispute", date(2024, 9, 2), 7, 1.0)
>>> bool((t[1:] >= t[:-1]).all()), 50 < len(t) < 160
(True, True)
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from flowlens.synth.calendars import DAY, HOUR, is_holiday
from flowlens.synth.presets import DAILY_CASES
from flowlens.synth.rng import PROCESS_CODES, numpy_rng

WEEKDAY = np.array([1.25, 1.1, 1.0, 1.0, 1.05, 0.6, 0.5])
#: Month multipliers: Spring Festival dip in February, year-end and quarter-end pushes.
MONTH = np.array([1.0, 0.85, 1.05, 1.0, 1.0, 1.05, 0.95, 0.95, 1.05, 0.95, 1.0, 1.1])

#: Relative arrivals per local hour (domain.md 6.3); contact-centre style, with an app evening peak.
HOUR_PROFILE = np.array(
    [
        0.15,
        0.10,
        0.08,
        0.06,
        0.06,
        0.10,
        0.25,
        0.60,
        1.20,
        2.00,
        2.10,
        1.70,
        1.20,
        1.40,
        1.90,
        1.90,
        1.50,
        1.20,
        0.90,
        0.90,
        1.10,
        1.10,
        0.60,
        0.30,
    ]
)
#: Office-hours profile for processes mostly started in branches or by letter.
OFFICE_PROFILE = np.array(
    [
        0.02,
        0.01,
        0.01,
        0.01,
        0.01,
        0.02,
        0.05,
        0.20,
        0.90,
        2.00,
        2.20,
        1.80,
        1.20,
        1.40,
        1.90,
        1.80,
        1.40,
        1.00,
        0.60,
        0.50,
        0.60,
        0.60,
        0.30,
        0.10,
    ]
)

PROCESS_PREFIX = {
    "account_opening": "AO",
    "loan_application": "LN",
    "card_dispute": "CD",
    "complaint": "CP",
    "service_issue": "SI",
}


def day_multipliers(process: str, start: date, days: int) -> np.ndarray:
    """Weekday x month x specials per day, normalised to mean 1 over the period."""
    m = np.empty(days)
    for i in range(days):
        d = start + timedelta(days=i)
        v = WEEKDAY[d.weekday()] * MONTH[d.month - 1]
        if process in ("account_opening", "service_issue") and 10 <= d.day <= 20:
            v *= 1.3  # branches surge mid-month (salary and bill days) [33]
        last_of_quarter = d.month in (3, 6, 9, 12) and d.day >= 26
        if process in ("account_opening", "loan_application") and last_of_quarter:
            v *= 1.5  # quarter-end sales push
        if is_holiday(d):
            v *= 0.9 if process == "service_issue" else 0.5
        m[i] = v
    return m / m.mean()


def hourly_rates(process: str, start: date, days: int, volume: float) -> np.ndarray:
    """Expected arrivals of one process's independent cases in each local hour of the period
    (``days * 24`` values, the first is 00:00-01:00 of ``start``): the rate the arrivals are
    drawn from (complaints triggered by other cases come on top).

    >>> r = hourly_rates("card_dispute", date(2024, 9, 2), 7, 1.0)
    >>> r.shape, round(float(r.sum()), 6)
    ((168,), 105.0)
    """
    profile = OFFICE_PROFILE if process == "complaint" else HOUR_PROFILE
    hour_w = profile / profile.sum()
    daily = DAILY_CASES[process] * volume * day_multipliers(process, start, days)
    return (daily[:, None] * hour_w[None, :]).ravel()


def arrival_times(seed: int, process: str, start: date, days: int, volume: float) -> np.ndarray:
    """Sorted arrival instants (simulation seconds) of one process's independent cases."""
    rng = numpy_rng(seed, PROCESS_CODES[PROCESS_PREFIX[process]], 1)
    rates = hourly_rates(process, start, days, volume)  # expected arrivals per hour
    counts = rng.poisson(rates)
    hours = np.repeat(np.arange(rates.size, dtype=np.float64), counts)
    times = (hours + rng.random(hours.size)) * HOUR
    times.sort(kind="stable")
    # Millisecond grid: the written timestamps are milliseconds, so the model uses them too.
    return np.round(times, 3)


__all__ = [
    "DAY",
    "HOUR_PROFILE",
    "PROCESS_PREFIX",
    "WEEKDAY",
    "arrival_times",
    "day_multipliers",
    "hourly_rates",
]
