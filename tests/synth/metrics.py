"""KPIs computed from the generated event and case tables (domain.md 3 and 6.8).

Only the published files are used, never the simulator's internal counters, so these are the
figures an analyst would get from the data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

WEEK = 7 * 86400.0


def load(path) -> tuple[pd.DataFrame, pd.DataFrame]:
    ev = pd.read_parquet(path / "events.parquet")
    cases = pd.read_parquet(path / "cases.parquet")
    ev["dur_s"] = (ev["end_ts"] - ev["start_ts"]).dt.total_seconds()
    return ev, cases


def _phone_contacts(ev: pd.DataFrame) -> pd.DataFrame:
    si = ev[(ev["process"] == "service_issue") & ev["contact_id"].notna()]
    phone_ids = si.loc[si["activity"] == "IVR Menu", "contact_id"].unique()
    return si[si["contact_id"].isin(phone_ids)]


def contact_centre(ev: pd.DataFrame) -> dict[str, float]:
    """Transfer, hold, abandonment rates, AHT (min) and 20-s service level of phone contacts."""
    ph = _phone_contacts(ev)
    acts = ph.groupby("contact_id")["activity"].agg(set)
    offered = acts.map(lambda s: "Enter Queue" in s)
    answered = acts.map(lambda s: "Agent Answers" in s)
    abandoned = acts.map(lambda s: "Abandon Call" in s)
    transferred = acts.map(lambda s: bool({"Transfer Call", "Warm Transfer Briefing"} & s))
    held = acts.map(lambda s: "Hold" in s)
    agent_acts = {
        "Verify Identity",
        "Handle Request",
        "Hold",
        "After-Call Work",
        "Warm Transfer Briefing",
        "Re-explain Issue",
    }
    work = ph[ph["activity"].isin(agent_acts) & answered.reindex(ph["contact_id"]).to_numpy()]
    aht = work["dur_s"].sum() / answered.sum() / 60.0
    q = ph[ph["activity"].isin(["Enter Queue", "Agent Answers"])]
    enter = q[q["activity"] == "Enter Queue"].groupby("contact_id")["end_ts"].first()
    answer = q[q["activity"] == "Agent Answers"].groupby("contact_id")["end_ts"].first()
    wait = (answer - enter.reindex(answer.index)).dt.total_seconds().dropna()
    local = enter.reindex(wait.index).dt.tz_convert("Asia/Shanghai")
    weekday = local.dt.day_of_week < 5
    monday_peak = (local.dt.day_of_week == 0) & local.dt.hour.between(9, 10)
    return {
        "transfer_rate": float(transferred[answered].mean()),
        "hold_rate": float(held[answered].mean()),
        "abandonment": float(abandoned[offered].sum() / offered.sum()),
        "aht_min": float(aht),
        "sl20_weekdays": float((wait[weekday] <= 20).mean()),
        "sl20_monday_9_11": float((wait[monday_peak] <= 20).mean()),
    }


def fcr_and_containment(ev: pd.DataFrame) -> dict[str, float]:
    si = ev[(ev["process"] == "service_issue") & ev["contact_id"].notna()]
    contacts = si.groupby("case_id")["contact_id"].nunique()
    c = si.groupby("contact_id").agg(
        case=("case_id", "first"), start=("start_ts", "min"), acts=("activity", lambda s: set(s))
    )
    chats = c[c["acts"].map(lambda s: "Chat Start" in s)]
    contained = chats[chats["acts"].map(lambda s: "Request Human Agent" not in s)]
    starts = c.sort_values("start").groupby("case")["start"].apply(list)

    def recontact(row: pd.Series) -> bool:
        later = [t for t in starts[row["case"]] if t > row["start"]]
        return bool(later) and (later[0] - row["start"]).total_seconds() <= WEEK

    adjusted = contained[~contained.apply(recontact, axis=1)]
    return {
        "fcr": float((contacts == 1).mean()),
        "containment": float(len(contained) / len(chats)),
        "adjusted_containment": float(len(adjusted) / len(chats)),
    }


def loans(ev: pd.DataFrame, cases: pd.DataFrame) -> dict[str, float]:
    ln = ev[ev["process"] == "loan_application"]
    offers = ln[ln["activity"].isin(["O_Create Offer", "Create Offer"])].groupby("case_id").size()
    out = cases[cases["process"] == "loan_application"]["outcome"].value_counts(normalize=True)
    work = ln[ln["resource_id"].str.match(r"^(LNA|UW)-", na=False)]
    return {
        "multi_offer": float((offers >= 2).mean()),
        "approved": float(out.get("approved", 0)),
        "cancelled": float(out.get("cancelled", 0)),
        "denied": float(out.get("denied", 0)),
        "work_item_median_min": float(work["dur_s"].median() / 60.0),
    }


def staff_mask(ev: pd.DataFrame) -> pd.Series:
    r = ev["resource_id"].fillna("")
    return ~(
        r.str.startswith("SYS") | r.isin(["CUSTOMER", "BOT", "IVR", "MERCHANT"]) | r.str.endswith("KIOSK")
    )


def openings(ev: pd.DataFrame, cases: pd.DataFrame) -> dict[str, float]:
    ao = ev[ev["process"] == "account_opening"]
    c = cases[cases["process"] == "account_opening"]
    app_opened = c[(c["origin_channel"] == "mobile_app") & (c["outcome"] == "opened")]["case_id"]
    human = set(ao[staff_mask(ao)]["case_id"])
    stp = float((~app_opened.isin(human)).mean())
    stp_cases = app_opened[~app_opened.isin(human)]
    span = ao.groupby("case_id").agg(s=("start_ts", "min"), e=("end_ts", "max"))
    stp_med = float((span.loc[stp_cases, "e"] - span.loc[stp_cases, "s"]).dt.total_seconds().median() / 60.0)
    # Branch session excluding the queue: called to counter -> last counter step.
    br = ao[ao["case_id"].isin(c[(c["origin_channel"] == "branch") & (c["outcome"] == "opened")]["case_id"])]
    called = br[br["activity"] == "Called to Counter"].groupby("case_id")["end_ts"].first()
    counter = br[br["resource_id"].str.contains(r"BR\d\d-[TMLR]", na=False)]
    last = counter.groupby("case_id")["end_ts"].max()
    session = (last - called.reindex(last.index)).dt.total_seconds().dropna() / 60.0
    return {
        "app_stp": stp,
        "app_stp_median_min": stp_med,
        "branch_session_median_min": float(session.median()),
        "opened": float((c["outcome"] == "opened").mean()),
        "abandoned": float((c["outcome"] == "abandoned").mean()),
        "rejected": float((c["outcome"] == "rejected").mean()),
    }


def complaints(ev: pd.DataFrame, cases: pd.DataFrame) -> dict[str, float]:
    cp = ev[ev["process"] == "complaint"]
    start = cp.groupby("case_id")["start_ts"].min()
    resp = (
        cp[cp["activity"].isin(["Send Final Response", "Send Summary Resolution"])]
        .groupby("case_id")["end_ts"]
        .min()
    )
    days = (resp - start.reindex(resp.index)).dt.total_seconds() / 86400.0
    s_local = start.reindex(resp.index).dt.tz_convert("Asia/Shanghai").dt.date
    r_local = resp.dt.tz_convert("Asia/Shanghai").dt.date
    bdays = np.busday_count(
        np.array(s_local, dtype="datetime64[D]"), np.array(r_local, dtype="datetime64[D]")
    )
    c = cases[cases["process"] == "complaint"]
    cat = c["complaint_category"].value_counts(normalize=True)
    return {
        "within_3_business_days": float((bdays <= 3).mean()),
        "within_15_days": float((days <= 15).mean()),
        "card_share": float(cat.get("card", 0)),
        "loan_share": float(cat.get("loan", 0)),
        "sla_met": float(c["sla_met"].mean()),
    }


def flow_efficiency(ev: pd.DataFrame) -> dict[str, float]:
    """Σ processing time (merged busy intervals) ÷ Σ lead time, per process."""
    out = {}
    for proc, g in ev.groupby("process"):
        g = g.sort_values(["case_id", "start_ts"])
        s = g["start_ts"].astype("int64").to_numpy() / 1e9
        e = g["end_ts"].astype("int64").to_numpy() / 1e9
        case = g["case_id"].to_numpy()
        busy = 0.0
        lead = 0.0
        i = 0
        n = len(g)
        while i < n:
            j = i
            cur_s, cur_e = s[i], e[i]
            first = s[i]
            last = e[i]
            while j + 1 < n and case[j + 1] == case[i]:
                j += 1
                last = max(last, e[j])
                if s[j] > cur_e:
                    busy += cur_e - cur_s
                    cur_s, cur_e = s[j], e[j]
                else:
                    cur_e = max(cur_e, e[j])
            busy += cur_e - cur_s
            lead += last - first
            i = j + 1
        out[proc] = busy / lead if lead else 0.0
    return out


def lead_time_medians_days(ev: pd.DataFrame) -> dict[str, float]:
    span = ev.groupby(["process", "case_id"]).agg(s=("start_ts", "min"), e=("end_ts", "max"))
    d = (span["e"] - span["s"]).dt.total_seconds() / 86400.0
    return {p: float(v) for p, v in d.groupby(level=0).median().items()}


def all_metrics(path) -> dict[str, float]:
    ev, cases = load(path)
    out: dict[str, float] = {}
    out.update(contact_centre(ev))
    out.update(fcr_and_containment(ev))
    out.update({f"loan_{k}": v for k, v in loans(ev, cases).items()})
    out.update({f"opening_{k}": v for k, v in openings(ev, cases).items()})
    out.update({f"complaint_{k}": v for k, v in complaints(ev, cases).items()})
    out.update({f"flow_eff_{k}": v for k, v in flow_efficiency(ev).items()})
    out.update({f"lead_median_days_{k}": v for k, v in lead_time_medians_days(ev).items()})
    return out
