"""The customer base: segments, ages, channels, risk ratings (domain.md 6.2).

Drawn once per seed, vectorised; cases pick their customer from it with their own stream, so a
remedy never changes who a case belongs to.

>>> df = make_customers(7, 1000, n_branches=20)
>>> sorted(df["segment"].unique())
['mass', 'private', 'small_business', 'vip']
>>> bool(df["customer_id"].is_unique)
True
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from flowlens.synth.rng import numpy_rng

SEGMENTS = ("mass", "vip", "private", "small_business")
SEGMENT_P = (0.78, 0.18, 0.01, 0.03)
AGE_BANDS = ("18-34", "35-54", "55-64", "65+")
AGE_P = (0.35, 0.40, 0.12, 0.13)
RISK = ("low", "medium", "high")
RISK_P = (0.85, 0.12, 0.03)
#: Monthly-average AUM bands in RMB per segment (mass < 50万, VIP >= 50万, private >= 600万).
AUM_BANDS = {
    "mass": ("<5万", "5万-20万", "20万-50万"),
    "vip": ("50万-100万", "100万-300万", "300万-600万"),
    "private": ("600万-1000万", ">=1000万"),
    "small_business": ("<50万", "50万-300万", ">=300万"),
}


def make_customers(seed: int, n: int, *, n_branches: int) -> pd.DataFrame:
    """The customers table (one row per customer, ids ``C0000001``...)."""
    rng = numpy_rng(seed, 2)
    segment = rng.choice(np.array(SEGMENTS), size=n, p=SEGMENT_P)
    age = rng.choice(np.array(AGE_BANDS), size=n, p=AGE_P)
    elderly = age == "65+"
    # App use: 30% of the elderly vs 85% of the others [assumption].
    digital = np.where(elderly, rng.random(n) < 0.30, rng.random(n) < 0.85)
    risk = rng.choice(np.array(RISK), size=n, p=RISK_P)
    tier = rng.choice(np.array(["tier1", "tier2", "tier3"]), size=n, p=(0.3, 0.4, 0.3))
    tenure = np.round(np.minimum(rng.gamma(2.0, 4.0, size=n), 40.0), 1)
    aum = np.empty(n, dtype=object)
    for s, bands in AUM_BANDS.items():
        mask = segment == s
        aum[mask] = rng.choice(np.array(bands), size=int(mask.sum()))
    pref_digital = rng.choice(
        np.array(["mobile_app", "phone_agent", "chatbot", "web", "branch"]),
        size=n,
        p=(0.45, 0.25, 0.15, 0.10, 0.05),
    )
    pref_offline = rng.choice(np.array(["branch", "phone_agent", "mobile_app"]), size=n, p=(0.5, 0.4, 0.1))
    preferred = np.where(digital, pref_digital, pref_offline)
    branch = rng.integers(0, n_branches, size=n)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:07d}" for i in range(1, n + 1)],
            "segment": segment,
            "aum_band": aum.astype(str),
            "age_band": age,
            "elderly": elderly,
            "digital_user": digital,
            "preferred_channel": preferred,
            "city_tier": tier,
            "risk_rating": risk,
            "tenure_years": tenure,
            "home_branch": [f"BR{b + 1:02d}" for b in branch],
        }
    )


class CustomerIndex:
    """Fast per-case access to customer attributes (plain lists, no pandas in the hot loop)."""

    def __init__(self, df: pd.DataFrame) -> None:
        self.n = len(df)
        self.ids = df["customer_id"].tolist()
        self.segment = df["segment"].tolist()
        self.elderly = df["elderly"].tolist()
        self.digital = df["digital_user"].tolist()
        self.risk = df["risk_rating"].tolist()
        self.branch = df["home_branch"].tolist()
        self.preferred = df["preferred_channel"].tolist()

    def pick(self, u: float) -> int:
        return min(int(u * self.n), self.n - 1)
