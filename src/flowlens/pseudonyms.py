"""Pseudonymised identifiers: case, customer and staff ids replaced by keyed hashes.

:func:`pseudonymise` returns a log in which every column that identifies a person, an account
or a case is replaced, in the engine, by ``<prefix><first 12 hex digits of sha256(key:value)>``;
free text is withheld; and identifiers inside the text that stays (activity names, categories)
are replaced by keyed pseudonyms too. Every analysis, report, JSON and CSV output made from
that log then carries pseudonyms only, and so does the quarantine file it writes.

Which columns (docs/methods.md §14; :func:`classify_columns`):

* the case id and the resource always;
* columns named like identifiers (:data:`IDENTIFIER`: customer, account, phone, e-mail,
  ``..._id``, ``..._no``, approver, ...), unless the name also says category or measure
  (``customer_segment``, ``account_type``, ``customer_age``: judged by content);
* by content, whatever the name: text whose values mostly *are* identifiers (e-mail
  addresses, phone numbers, IBANs, card numbers, national ids such as the Chinese resident
  id, US SSN, UK NINO, runs of 8 or more digits, codes like ``KL-000070``); values unique or
  nearly unique per case or per customer (a key); staff names outside the resource column;
  whole numbers of 8 or more digits, or keys of 5 or more digits;
* free text (mostly distinct values of three words or more) is withheld: removed from the
  log, and from the quarantine;
* the columns the user names (``extra``; ``--pseudonymise-columns``), whatever they hold.

The same key gives the same pseudonym for the same id, in every output and run, so results
stay linkable for whoever holds the key; without a key, a random one is drawn and pseudonyms
differ from run to run. Activities, teams and channels are the process, not identifiers, and
stay, with any identifier inside them masked (``Call +31610000062`` -> ``Call tel-...``).

>>> import flowlens, pandas as pd
>>> df = pd.DataFrame({"case": ["A-1", "A-1"], "activity": ["open", "close"], "customer_id": ["C7", "C7"],
...                    "resource": ["alice", "bob"], "timestamp": ["2024-01-01 09:00", "2024-01-01 10:00"]})
>>> log = pseudonymise(flowlens.read_log(df), key="secret")
>>> t = log.table.select("case_id", "resource", "customer_id").to_pandas()
>>> sorted(set(t.values.ravel()))
['case-a9bd37d16a7a', 'cust-7dc6ceef6f46', 'res-051e2e8cfee3', 'res-94fc63abd67a']
>>> log.pseudonyms.value("case_id", "A-1") == t.case_id[0]
True
>>> mask_identifiers("callback to +31610000062 re IBAN NL91ABNA0417164300", "secret")
'callback to tel-6c111cdcea23 re IBAN iban-be794d5ea584'
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import pandas as pd

from flowlens.errors import ConfigError

if TYPE_CHECKING:
    import ibis

    from flowlens.log import EventLog

#: Attribute names that hold identifiers of people, accounts or contacts.
IDENTIFIER = re.compile(
    r"(^|[_\s:.-])(id|ids|no|number|nr)$|^id[_\s:.-]|customer|client|cust[_\s:.-]|contact|account|acct|"
    r"user|member|staff|agent|employee|officer|operator|phone|mobile|e-?mail|passport|iban|"
    r"resource|approver|assignee|owner|creator|responsible|handler|reviewer|requester|requestor|submitter|"
    r"manager|advis[eo]r|beneficiary|payee|payer|holder|patient|caller|recipient|sender|"
    r"surname|first_?name|last_?name|full_?name|birth|address|street|postcode|postal|ssn|"
    r"(^|[_\s:.-])name$|客户|员工|账号|账户|手机|身份|姓名|工号|电话|地址|证件",
    re.IGNORECASE,
)

#: Words that make a name matched by :data:`IDENTIFIER` a category or a measure of the entity
#: (``customer_segment``, ``account_type``, ``customer_age``): such columns are judged by
#: their content instead (a category of 4 values identifies nobody).
CATEGORY_WORDS = frozenset(
    [
        "segment",
        "segments",
        "type",
        "types",
        "category",
        "categories",
        "class",
        "band",
        "tier",
        "status",
        "level",
        "group",
        "channel",
        "kind",
        "reason",
        "product",
        "rating",
        "risk",
        "age",
        "balance",
        "amount",
        "count",
        "score",
        "currency",
        "language",
        "country",
        "size",
        "tenure",
        "since",
        "flag",
        "sum",
        "total",
        "value",
        "limit",
        "days",
        "hours",
        "minutes",
        "duration",
        "rate",
        "months",
        "years",
        "income",
        "salary",
    ]
)
_CATEGORY_CJK = ("类型", "类别", "等级", "渠道", "金额", "年龄", "余额", "状态", "分类")

DIGITS = 12
#: Keys shorter than this get a warning: the ids of a bank are few and structured enough
#: that a short key can be found by trying keys against one known id.
MIN_KEY = 16
#: Distinct values sampled per column for the content rules.
SAMPLE = 500
#: Values a column needs before its cardinality is judged (fewer: only names and patterns).
MIN_VALUES = 5
#: Median number of cases per value at or below which a column identifies cases (a key).
KEY_CASES = 2.0
#: Share of sampled values holding an identifier (e-mail, phone, ...) that makes the column one.
PATTERN_SHARE = 0.5
#: Share of sampled values that are single tokens with 5+ digits that makes a column a code.
CODE_SHARE = 0.8
#: Share of sampled values with three words or more that makes a key-like column free text.
TEXT_SHARE = 0.5

#: Identifier patterns found inside text, tried in this order at each position.
_PATTERNS: tuple[tuple[str, str], ...] = (
    ("mail", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
    ("iban", r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?\b"),
    # Chinese resident id (18), US SSN, UK National Insurance number
    ("nid", r"\b\d{17}[\dXx]\b|\b\d{3}-\d{2}-\d{4}\b|\b[A-CEGHJ-PR-TW-Z]{2}\d{6}[A-D]\b"),
    ("card", r"\b\d{4}(?:[ -]\d{4}){3}(?:[ -]?\d{1,3})?\b"),
    # international (+31 6 1000 0062, 0031...), national (06-12345678, 020 1234567), US
    (
        "tel",
        r"(?<![\w+])(?:\+|00)[1-9]\d{0,2}(?:[ .-]?\(0\))?(?:[ .-]?\d){6,13}(?![\d:])"
        r"|(?<![\w:./-])0\d(?:[ .-]?\d){7,10}(?![\d:])|\(\d{3}\)[ ]?\d{3}-\d{4}\b",
    ),
    ("ip", r"\b\d{1,3}(?:\.\d{1,3}){3}\b"),
    # 8+ digits in a row, or 9+ in groups (123.456.789, 1234 5678 9)
    ("num", r"(?<!\d)\d{8,}(?!\d)|(?<![\d.])\d{2,4}(?:[ .]\d{2,4}){2,}(?![\d.])"),
    # a reference: a short letter prefix and 6+ digits (KL-000070, C0000083, TX2024000123)
    ("ref", r"\b[A-Za-z]{1,4}[-_]?\d{6,}[A-Za-z]{0,2}\b"),
)
_ANY = re.compile("|".join(f"(?P<{k}>{p})" for k, p in _PATTERNS))
#: A cheap pre-filter for the engine: only values it matches can hold an identifier.
_MAYBE = (
    r"@|\d{6}|\d[ .-]\d{2,4}[ .-]\d|\d\.\d{1,3}\.\d{1,3}\.\d|\)[ ]?\d{3}-\d{4}|[A-Z]{2}\d{2}[ ]?[A-Z0-9]{4}"
)
_DATE_LIKE = re.compile(
    r"^\s*(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})"
    r"([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?\s*$"
)
_CODE = re.compile(r"^\S{1,40}$")
_RUN5 = re.compile(r"\d{5,}")
#: The columns the gate fills in the quarantine (``flowlens.io.gate.QUARANTINE_COLUMNS``; the
#: core does not import the reading stage); the source columns follow.
_GATE_COLUMNS = ("source_row", "reason", "detail", "raw_line")
#: What replaces a withheld value (free text, or a quarantined column the log does not have).
WITHHELD = "(withheld)"


def _digest(key: str, value: str) -> str:
    return hashlib.sha256(f"{key}:{value}".encode()).hexdigest()[:DIGITS]


def _valid(kind: str, text: str) -> bool:
    digits = sum(ch.isdigit() for ch in text)
    if kind == "iban":
        return digits >= 8
    if kind == "num" and not text.isdigit():
        return digits >= 9
    return True


def _normal(kind: str, text: str) -> str:
    # one pseudonym per identifier however it is written (+31 6 1000 0062 = +31610000062)
    if kind == "mail":
        return text.lower()
    return re.sub(r"[^0-9A-Za-z+]", "", text).upper()


def key_warning(key: str) -> str | None:
    """Why ``key`` is too weak (shorter than :data:`MIN_KEY`), or None.

    >>> key_warning("secret")
    'the pseudonym key has 6 characters: anyone who knows one id can try short keys until its pseudonym matches; use 16 or more random characters'
    """
    if len(key) >= MIN_KEY:
        return None
    return (
        f"the pseudonym key has {len(key)} characters: anyone who knows one id can try short keys "
        f"until its pseudonym matches; use {MIN_KEY} or more random characters"
    )


def find_identifiers(text: str) -> list[tuple[str, str]]:
    """The identifiers inside ``text``: (kind, text) for e-mail addresses (``mail``), IBANs,
    national ids (``nid``), card numbers, phone numbers (``tel``), IP addresses, runs of 8+
    digits (``num``) and references (a letter prefix and 6+ digits: ``ref``).

    >>> find_identifiers("call 06-12345678 or mail a.b@bank.nl about KL-000070")
    [('tel', '06-12345678'), ('mail', 'a.b@bank.nl'), ('ref', 'KL-000070')]
    >>> find_identifiers("Approve loan 2024-03-04 09:00, 3 of 12")
    []
    """
    out = []
    for m in _ANY.finditer(text):
        kind = m.lastgroup or "num"
        if _valid(kind, m.group()):
            out.append((kind, m.group()))
    return out


def mask_identifiers(text: str, key: str) -> str:
    """``text`` with every identifier :func:`find_identifiers` finds replaced by a keyed
    pseudonym ``<kind>-<12 hex digits>`` (the same identifier, the same pseudonym).

    >>> mask_identifiers("mail jan@example.nl, then jan@EXAMPLE.nl", "k")
    'mail mail-5ae576e18b2d, then mail-5ae576e18b2d'
    """

    def sub(m: re.Match[str]) -> str:
        kind = m.lastgroup or "num"
        if not _valid(kind, m.group()):
            return m.group()
        return f"{kind}-{_digest(key, _normal(kind, m.group()))}"

    return _ANY.sub(sub, text)


def _shape(text: str) -> str:
    """Letters as A/a, digits as 9: the form of a value without its content."""
    return "".join(
        "9" if ch.isdigit() else ("A" if ch.isupper() else "a") if ch.isalpha() else ch for ch in text
    )


def _words(name: str) -> set[str]:
    parts = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", str(name).split(":")[-1])
    return {p.lower() for p in parts}


def named_like_identifier(name: str) -> bool:
    """Named like an identifier (:data:`IDENTIFIER`) and not like a category or measure of
    one (:data:`CATEGORY_WORDS`).

    >>> [named_like_identifier(n) for n in ("customer_id", "Phone", "customer_segment", "account type", "bsn")]
    [True, True, False, False, False]
    """
    if not IDENTIFIER.search(name):
        return False
    return not (_words(name) & CATEGORY_WORDS or any(w in name for w in _CATEGORY_CJK))


#: Last words that make a numeric column named like an identifier one (``customer_no``,
#: ``phone``); other numbers named so (``contacts``, ``customer_age``) are judged by content.
NUMBER_ID_WORDS = frozenset(
    [
        "id",
        "ids",
        "no",
        "nr",
        "number",
        "num",
        "key",
        "ref",
        "code",
        "uuid",
        "phone",
        "mobile",
        "iban",
        "passport",
        "ssn",
        "account",
        "acct",
        "customer",
        "client",
        "user",
        "member",
        "employee",
        "staff",
        "agent",
        "patient",
    ]
)


def _named_id(name: str, *, numeric: bool) -> bool:
    if not named_like_identifier(name):
        return False
    if not numeric:
        return True
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", name.split(":")[-1])
    return (bool(words) and words[-1].lower() in NUMBER_ID_WORDS) or any(w in name for w in ("号", "编号"))


def _prefix(column: str) -> str:
    if column == "case_id":
        return "case-"
    if column == "resource":
        return "res-"
    low = column.lower()
    for word, prefix in (
        ("customer", "cust-"),
        ("client", "cust-"),
        ("contact", "contact-"),
        ("account", "acct-"),
    ):
        if word in low:
            return prefix
    return "id-"


@dataclass(frozen=True)
class Verdict:
    """What pseudonymisation does with one column, and why."""

    #: canonical column of the log
    column: str
    #: ``hash`` (pseudonyms), ``withhold`` (removed), ``mask`` (kept, identifiers inside
    #: masked) or ``keep`` (numbers, times, flags: kept as they are)
    action: str
    #: the rule: ``role``, ``user``, ``name``, ``staff``, ``pattern``, ``key``, ``code``,
    #: ``text``, ``nested``, ``date``, ``category``, ``number`` (docs/methods.md)
    rule: str
    detail: str = ""

    def line(self) -> str:
        return f"{self.column}: {self.action} ({self.rule}{': ' + self.detail if self.detail else ''})"


@dataclass(frozen=True)
class Pseudonyms:
    """How a log's identifiers were pseudonymised: the key and what was done per column."""

    key: str = ""
    #: canonical columns of the log that hold pseudonyms
    columns: tuple[str, ...] = ()
    #: False when the key was drawn at random (pseudonyms differ between runs)
    keyed: bool = True
    #: columns removed from the log (free text)
    withheld: tuple[str, ...] = ()
    #: text columns (activity, categories) in which identifiers were found and masked
    masked: tuple[str, ...] = ()
    #: column names the user asked to pseudonymise (also applied to a case table joined later)
    extra: tuple[str, ...] = ()
    #: one verdict per judged column (:func:`classify_columns`)
    verdicts: tuple[Verdict, ...] = ()
    #: columns whose pseudonyms use another column's prefix (staff names -> ``res-``)
    prefixes: tuple[tuple[str, str], ...] = ()
    #: values a quarantined raw line may show as they are (activity names, categories)
    safe: frozenset[str] = field(default_factory=frozenset)

    def prefix(self, column: str) -> str:
        for c, p in self.prefixes:
            if c == column:
                return p
        return _prefix(column)

    def expr(self, value: ibis.Value, column: str) -> ibis.Value:
        """The pseudonym of ``value`` (an engine expression) for ``column``."""
        import ibis

        digest = (ibis.literal(self.key + ":") + value.cast("string")).hexdigest("sha256")
        return ibis.ifelse(
            value.isnull(), ibis.null("string"), self.prefix(column) + digest.substr(0, DIGITS)
        )

    def value(self, column: str, v: Any) -> Any:
        """The pseudonym of one value (the same as :meth:`expr` computes in the engine)."""
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            return v
        return self.prefix(column) + _digest(self.key, str(v))

    def series(self, column: str, s: pd.Series) -> pd.Series:
        return s.map(lambda v: self.value(column, v))

    def mask(self, text: Any) -> Any:
        """``text`` with the identifiers inside it masked (:func:`mask_identifiers`)."""
        if not isinstance(text, str):
            return text
        return mask_identifiers(text, self.key)

    def quarantine_frame(self, df: pd.DataFrame, log: EventLog) -> pd.DataFrame:
        """The quarantine of ``log`` (source column names) with the same treatment as the log:
        identifier columns pseudonymised, free text and columns the log does not have
        withheld, identifiers inside the other values and the reason's detail masked, and the
        raw text of unreadable rows reduced to the form of each field."""
        roles = log.columns
        action: dict[str, tuple[str, str]] = {}  # source column -> (action, canonical)
        for c in roles.activity_columns:
            action[c] = ("mask", "activity")
        for c in (roles.start, roles.end, roles.lifecycle):
            if c:
                action[c] = ("mask", c)
        verdict = {v.column: v.action for v in self.verdicts}
        for canon, src in log.attributes.items():
            if canon in self.columns:
                action[src] = ("hash", canon)
            else:
                act = verdict.get(canon, "mask")
                action[src] = ("withhold" if act == "withhold" else "mask", canon)
        for canon in self.withheld:
            action.setdefault(canon, ("withhold", canon))
        if roles.resource:
            action[roles.resource] = ("hash", "resource")
        if roles.case:
            action[roles.case] = ("hash", "case_id")
        out = df.copy()
        secret: list[tuple[str, str]] = []  # (frame column, canonical) whose values must not show
        for col in out.columns:
            if col in _GATE_COLUMNS:
                continue
            name = str(col)
            while name not in action and name.startswith("src:"):
                name = name[4:]  # the gate prefixes source names that clash with its own
            what, canon = action.get(name, ("withhold", name))
            if what == "hash":
                secret.append((col, canon))
                out[col] = self.series(canon, out[col].astype("string").astype(object))
            elif what == "withhold":
                secret.append((col, ""))
                out[col] = out[col].where(out[col].isna(), WITHHELD)
            else:
                out[col] = out[col].map(self.mask)
        if "detail" in out.columns:
            out["detail"] = self._details(out["detail"], df, secret)
        if "raw_line" in out.columns:
            out["raw_line"] = out["raw_line"].map(lambda s: self._raw_line(s, log.source.delimiter))
        return out

    def _details(self, detail: pd.Series, raw: pd.DataFrame, secret: list[tuple[str, str]]) -> pd.Series:
        # a detail quotes the offending value: one of the row's identifiers must not show there
        rows = detail.notna()
        values = raw.loc[rows, [c for c, _ in secret]].astype("string") if secret else None
        out = []
        for i, text in zip(detail.index[rows], detail[rows], strict=True):
            text = str(text)
            if values is not None:
                for col, canon in secret:
                    v = values.at[i, col]
                    if isinstance(v, str) and len(v) >= 3 and v in text:
                        text = text.replace(v, self.value(canon, v) if canon else WITHHELD)
            out.append(self.mask(text))
        result = detail.copy()
        result[rows] = out
        return result

    def _raw_line(self, line: Any, delimiter: str | None) -> Any:
        """An unreadable source line, field by field: known activity names and categories,
        dates and short numbers as they are, every other field as its form (A/a/9)."""
        if not isinstance(line, str):
            return line
        try:
            fields = next(csv.reader([line], delimiter=delimiter or ","))
        except (csv.Error, StopIteration):
            fields = [line]
        shown = []
        for f in fields:
            v = f.strip()
            if v in self.safe or _DATE_LIKE.match(v) or re.fullmatch(r"-?\d{1,4}|-?\d{1,7}\.\d+", v):
                shown.append(f)
            else:
                shown.append(_shape(f))
        buf = io.StringIO()  # quoted again as the source was, so the fields still line up
        csv.writer(buf, delimiter=delimiter or ",", lineterminator="").writerow(shown)
        return buf.getvalue()

    def describe(self) -> str:
        how = "keyed" if self.keyed else "random key, not stable across runs"
        text = f"pseudonymised ({how}): {', '.join(self.columns)}"
        if self.withheld:
            text += f"; withheld (free text): {', '.join(self.withheld)}"
        if self.masked:
            text += f"; identifiers masked inside: {', '.join(self.masked)}"
        return text


def _sample_stats(t: ibis.Table, cols: list[str]) -> dict[str, list[str]]:
    """Up to :data:`SAMPLE` distinct values per column (as text), drawn by hash: the same
    sample in every run, spread over the values rather than their alphabetical start."""
    import ibis

    parts = [
        t.select(col=ibis.literal(c), v=t[c].cast("string")).filter(lambda s: s.v.notnull()).distinct()
        for c in cols
    ]
    u = parts[0].union(*parts[1:], distinct=False) if len(parts) > 1 else parts[0]
    rn = ibis.row_number().over(group_by=u.col, order_by=[u.v.hash(), u.v])
    df = u.mutate(rn=rn).filter(lambda s: s.rn < SAMPLE).select("col", "v").to_pandas()
    df = df.sort_values(["col", "v"], kind="stable")
    return {c: df.loc[df["col"] == c, "v"].tolist() for c in cols}


def _entity_stats(t: ibis.Table, cols: list[str], entity: str) -> dict[str, tuple[int, float]]:
    """Per column: its number of distinct values and the median number of ``entity`` values
    (cases, customers) per value."""
    import ibis

    parts = [
        t.filter(t[c].notnull() & t[entity].notnull())
        .select(col=ibis.literal(c), v=t[c].cast("string"), e=t[entity])
        .distinct()
        for c in cols
        if c != entity
    ]
    if not parts:
        return {}
    u = parts[0].union(*parts[1:], distinct=False) if len(parts) > 1 else parts[0]
    per = u.group_by(["col", "v"]).aggregate(k=u.e.count())
    agg = per.group_by("col").aggregate(n=per.v.count(), med=per.k.median()).to_pandas()
    return {str(r.col): (int(r.n), float(r.med)) for r in agg.itertuples()}


def _is_key(stats: tuple[int, float] | None, most: float) -> bool:
    """Enough values, each in at most ``most`` entities (median): a key of the entity."""
    return stats is not None and stats[0] >= MIN_VALUES and stats[1] <= most


def _share(values: list[str], test: Any) -> float:
    return sum(1 for v in values if test(v)) / len(values) if values else 0.0


def _kinds(values: list[str]) -> str:
    counts: dict[str, int] = {}
    for v in values:
        for kind, _ in find_identifiers(v):
            counts[kind] = counts.get(kind, 0) + 1
            break
    names = {"mail": "e-mail addresses", "iban": "IBANs", "nid": "national ids", "card": "card numbers",
             "tel": "phone numbers", "ip": "IP addresses", "num": "long numbers", "ref": "references"}  # fmt: skip
    return ", ".join(names[k] for k, _ in sorted(counts.items(), key=lambda kv: -kv[1]))


def _resolve(log: EventLog, names: Iterable[str]) -> tuple[set[str], list[str]]:
    """Canonical columns named (by source or canonical name), and the names not found."""
    by_name = {**{c: c for c in log.table.columns}, **{src: canon for canon, src in log.attributes.items()}}
    for role, canon in (("case", "case_id"), ("resource", "resource")):
        src = getattr(log.columns, role)
        if src:
            by_name[src] = canon
    found, missing = set(), []
    for n in names:
        if n in by_name:
            found.add(by_name[n])
        else:
            missing.append(n)
    return found, missing


def classify_columns(
    log: EventLog, columns: Sequence[str] | None = None, *, extra: Iterable[str] = ()
) -> list[Verdict]:
    """What :func:`pseudonymise` does with each attribute column of ``log`` (default: all
    of them; module docstring and docs/methods.md). ``extra``: names (source or canonical)
    to pseudonymise whatever they hold.

    >>> import flowlens, pandas as pd
    >>> n = 40
    >>> df = pd.DataFrame({"case": [f"c{i // 2}" for i in range(n)], "activity": ["a", "b"] * (n // 2),
    ...     "timestamp": pd.date_range("2024-01-01", periods=n, freq="h"),
    ...     "x1": [f"06-{10000000 + i // 2}" for i in range(n)],
    ...     "x2": [f"KL-{i // 8:05d}" for i in range(n)],
    ...     "x3": [f"called back about case {i} today" if i % 2 else None for i in range(n)],
    ...     "x4": [["gold", "std"][i // 2 % 2] for i in range(n)]})
    >>> [(v.column, v.action, v.rule) for v in classify_columns(flowlens.read_log(df))]
    [('x1', 'hash', 'pattern'), ('x2', 'hash', 'code'), ('x3', 'withhold', 'text'), ('x4', 'mask', 'category')]
    """
    from flowlens.attributes import detect_column

    cols = list(columns) if columns is not None else list(log.attributes)
    named, _ = _resolve(log, extra)
    t = log.table
    staff: Callable[[str], bool] = lambda v: False  # noqa: E731
    if "resource" in t.columns:
        names = set(t.select("resource").distinct().to_pandas()["resource"].dropna().astype(str))
        p = log.pseudonyms
        # a pseudonymised log holds the staff's pseudonyms: compare those
        staff = names.__contains__ if p is None else (lambda v: p.value("resource", v) in names)
    return _classify(
        t, cols, log.attributes, named, case="case_idx", customer=detect_column(log, "customer"), staff=staff
    )


def _classify(
    t: ibis.Table,
    cols: list[str],
    sources: dict[str, str],
    named: set[str],
    *,
    case: str,
    customer: str | None,
    staff: Callable[[str], bool],
) -> list[Verdict]:
    """The verdicts on the columns ``cols`` of ``t`` (``sources``: column -> source name,
    ``named``: columns the user named, ``case``/``customer``: the entity columns)."""
    schema = t.schema()
    verdicts: dict[str, Verdict] = {}
    judge: list[str] = []
    for c in cols:
        src = sources.get(c, c)
        dt = schema[c]
        if c in named or src in named:
            verdicts[c] = Verdict(c, "hash", "user", "named with --pseudonymise-columns")
        elif dt.is_boolean() or dt.is_temporal():
            verdicts[c] = Verdict(c, "keep", "number", f"typed {dt}")
        elif not (dt.is_string() or dt.is_numeric()):
            verdicts[c] = Verdict(c, "withhold", "nested", f"typed {dt}: not judged")
        elif _named_id(src, numeric=dt.is_numeric()):
            verdicts[c] = Verdict(c, "hash", "name", "named like an identifier")
        else:
            judge.append(c)
    if judge:
        samples = _sample_stats(t, judge)
        # fewer values than MIN_VALUES: no cardinality to judge
        many = [c for c in judge if len(samples[c]) >= MIN_VALUES]
        per_case = _entity_stats(t, many, case) if many else {}
        # per customer: only what is not already a key per case
        rest = [c for c in many if not _is_key(per_case.get(c), KEY_CASES)]
        per_cust = _entity_stats(t, rest, customer) if customer and rest else {}
        for c in judge:
            verdicts[c] = _judge(c, schema[c], samples[c], per_case.get(c), per_cust.get(c), staff)
    return [verdicts[c] for c in cols]


def _judge(
    c: str,
    dt: Any,
    sample: list[str],
    per_case: tuple[int, float] | None,
    per_cust: tuple[int, float] | None,
    staff: Callable[[str], bool],
) -> Verdict:
    """The content rules, in order (docs/methods.md §14)."""
    n, med = per_case or (0, 0.0)
    key_case = _is_key(per_case, KEY_CASES)
    key_cust = _is_key(per_cust, 1.0)
    if key_case:
        key = f"{n:,} values, a median of {med:g} case(s) each"
    elif key_cust and per_cust is not None:
        key = f"one value per customer ({per_cust[0]:,} values)"
    else:
        key = ""
    if dt.is_numeric():
        nums = pd.to_numeric(pd.Series(sample, dtype=object), errors="coerce").dropna()
        whole = nums[(nums % 1) == 0].abs()
        if len(nums) and len(whole) / len(nums) >= 0.99:
            if (whole >= 10**7).mean() >= PATTERN_SHARE:
                return Verdict(c, "hash", "pattern", "numbers of 8 digits or more")
            if (key_case or key_cust) and (whole >= 10**4).mean() >= CODE_SHARE:
                return Verdict(c, "hash", "key", f"numbers of 5 digits or more, {key}")
        return Verdict(c, "keep", "number", "")
    if sample and _share(sample, staff) >= 0.5:
        return Verdict(c, "hash", "staff", "values are names in the resource column")
    if (key_case or key_cust) and _share(sample, lambda v: len(v.split()) >= 3) >= TEXT_SHARE:
        return Verdict(c, "withhold", "text", f"free text: {key}")
    if sample and _share(sample, lambda v: bool(find_identifiers(v))) >= PATTERN_SHARE:
        return Verdict(c, "hash", "pattern", _kinds(sample))
    if sample and _share(sample, lambda v: bool(_DATE_LIKE.match(v))) >= 0.9:
        return Verdict(c, "mask", "date", "dates")
    if key_case or key_cust:
        return Verdict(c, "hash", "key", key)
    if sample and _share(sample, lambda v: bool(_CODE.match(v) and _RUN5.search(v))) >= CODE_SHARE:
        return Verdict(c, "hash", "code", "codes with 5 or more digits")
    return Verdict(c, "mask", "category", "")


def identifier_columns(log: EventLog) -> list[str]:
    """The columns :func:`pseudonymise` replaces by pseudonyms: case id, resource, and the
    attributes :func:`classify_columns` judges identifiers."""
    cols = ["case_id"]
    if "resource" in log.table.columns:
        cols.append("resource")
    return cols + [v.column for v in classify_columns(log) if v.action == "hash"]


#: Distinct values of a text column above which its values are not listed as safe to show
#: in a quarantined raw line (they are shown by their form instead).
SAFE_VALUES = 5000


def _mask_columns(t: ibis.Table, cols: list[str], p: Pseudonyms) -> tuple[ibis.Table, list[str], set[str]]:
    """``t`` with the identifiers inside the text columns ``cols`` masked, the columns where
    some were, and the values that hold none (safe to show). Columns of up to
    :data:`SAFE_VALUES` distinct values are read whole in one query; of larger ones only the
    values the engine's pre-filter (:data:`_MAYBE`) matches reach Python."""
    import ibis

    if not cols:
        return t, [], set()
    parts = [
        t.select(col=ibis.literal(c), v=t[c].cast("string")).filter(lambda s: s.v.notnull()).distinct()
        for c in cols
    ]
    u = parts[0].union(*parts[1:], distinct=False) if len(parts) > 1 else parts[0]
    rn = ibis.row_number().over(group_by=u.col, order_by=u.v)
    head = u.mutate(rn=rn).filter(lambda s: s.rn <= SAFE_VALUES).select("col", "v").to_pandas()
    safe: set[str] = set()
    changed: list[str] = []
    for c in cols:
        values = head.loc[head["col"] == c, "v"].astype(str)
        if len(values) <= SAFE_VALUES:
            safe.update(v for v in values if not find_identifiers(v))
        else:
            values = t.select(v=t[c]).distinct().filter(lambda s: s.v.re_search(_MAYBE)).to_pandas()["v"]
            values = values.dropna().astype(str)
        pairs = [(v, m) for v in values if (m := p.mask(v)) != v]
        if not pairs:
            continue
        changed.append(c)
        m = ibis.memtable(pd.DataFrame(pairs, columns=["__old", "__new"]))
        j = t.left_join(m, t[c] == m.__old)
        t = j.mutate(**{c: ibis.coalesce(j.__new, j[c])}).select(t.columns)
    return t, changed, safe


def pseudonymise(
    log: EventLog,
    columns: Iterable[str] | None = None,
    *,
    key: str | None = None,
    extra: Iterable[str] = (),
    later: Iterable[str] = (),
    basis: EventLog | None = None,
) -> EventLog:
    """``log`` with its identifiers pseudonymised (module docstring).

    ``columns``: exactly these canonical columns are replaced by pseudonyms, and nothing else
    is done (used for ``--other-work``); default: case id, resource and the attributes
    :func:`classify_columns` judges identifiers, free text withheld and identifiers inside
    activity names and other text masked. ``key``: a secret; None draws a random one.
    ``extra``: column names (source or canonical) to pseudonymise whatever they hold; a name
    that is not in the log must be in ``later`` (the columns of a case table joined later).
    ``basis``: the log the content rules judge (default ``log``); give the unfiltered log when
    ``log`` is filtered, so that a column's verdict does not depend on the filter (a filter to
    one customer leaves too few values to tell a key from a category).
    """
    from flowlens.log import replace_log

    if log.pseudonyms is not None:
        raise ConfigError("this log is already pseudonymised")
    t = log.table
    extra = tuple(dict.fromkeys(extra))
    _, missing = _resolve(log, extra)
    missing = [n for n in missing if n not in set(later)]
    if missing:
        raise ConfigError(
            f"cannot pseudonymise {', '.join(missing)}: not a column of the log"
            + (" or of the case table" if later else ""),
            hint=f"columns: {', '.join(list(log.attributes.values()) + list(later))}",
        )
    p = Pseudonyms(key=key if key else secrets.token_hex(16), keyed=bool(key), extra=extra)
    if columns is not None:
        cols = list(columns)
        unknown = [c for c in cols if c not in t.columns]
        if unknown:
            raise ConfigError(
                f"cannot pseudonymise {', '.join(unknown)}: not a column of the log",
                hint=f"columns: {', '.join(t.columns)}",
            )
        p = replace(p, columns=tuple(cols))
        masked: list[str] = []
        drop: list[str] = []
        verdicts: list[Verdict] = []
    else:
        verdicts = classify_columns(basis if basis is not None else log, extra=extra)
        cols = ["case_id", *(["resource"] if "resource" in t.columns else [])]
        cols += [v.column for v in verdicts if v.action == "hash"]
        drop = [v.column for v in verdicts if v.action == "withhold"]
        masked = ["activity", *(v.column for v in verdicts if v.action == "mask")]
        p = replace(
            p,
            columns=tuple(cols),
            withheld=tuple(drop),
            verdicts=tuple(verdicts),
            prefixes=tuple((v.column, "res-") for v in verdicts if v.rule == "staff"),
        )
    t = t.mutate(**{c: p.expr(t[c], c) for c in cols}).drop(*drop)
    t, changed, safe = _mask_columns(t, masked, p)
    names = set(log.attributes.values()) | set(log.columns.role_columns())
    p = replace(p, masked=tuple(changed), safe=frozenset(safe | names))
    # computed once: every later query would otherwise hash every id again
    table = log.engine.materialize(t, prefix="fl_pseudo")
    attrs = {k: v for k, v in log.attributes.items() if k not in drop}
    filters = tuple(_filter_text(f, log, p) for f in log.filters)
    return replace_log(log, table=table, pseudonyms=p, attributes=attrs, filters=(*filters, p.describe()))


_FILTER_VALUES = re.compile(r"^((?:instances|cases) with(?:out)? )(.+) in (\[.*\])$")


def _filter_text(text: str, log: EventLog, p: Pseudonyms) -> str:
    """A filter's description (applied before pseudonymisation) without the values it names
    in clear: the values of a pseudonymised column as pseudonyms, of a withheld one withheld,
    identifiers in any other masked."""
    import ast

    m = _FILTER_VALUES.match(text)
    if m is None:
        return p.mask(text)
    head, name, values = m.groups()
    roles = {"case": "case_id", "case_id": "case_id", log.columns.case: "case_id"}
    found, _ = _resolve(log, [name])
    canon = roles.get(name) or next(iter(found), name)
    if canon in p.withheld:
        return f"{head}{name} in [{WITHHELD!r}]"
    if canon not in p.columns:
        return p.mask(text)
    try:
        shown = [p.value(canon, v) for v in ast.literal_eval(values)]
    except (ValueError, SyntaxError):
        shown = [WITHHELD]
    return f"{head}{name} in {shown}"


def protect_columns(log: EventLog, columns: Sequence[str], cases: pd.DataFrame | None = None) -> EventLog:
    """A pseudonymised ``log`` with the attribute ``columns`` added since (a case table's)
    given the same treatment as :func:`pseudonymise` gave the others. ``cases``: the whole
    table they come from, one row per case, which the content rules judge (so that a filtered
    log does not leave too few values to judge); default: the log."""
    import ibis

    from flowlens.attributes import CANDIDATES, norm_name
    from flowlens.log import replace_log

    p = log.pseudonyms
    if p is None or not columns:
        return log
    if cases is None:
        # the judging queries would each compute the case table's join again
        log = replace_log(log, table=log.engine.materialize(log.table, prefix="fl_cases"))
        verdicts = classify_columns(log, columns, extra=p.extra)
    else:
        table = ibis.memtable(cases[list(columns)].assign(__row=range(len(cases))))
        by_norm = {norm_name(c): c for c in columns}
        customer = next((by_norm[n] for n in map(norm_name, CANDIDATES["customer"]) if n in by_norm), None)
        staff = (
            set(log.table.select("resource").distinct().to_pandas()["resource"].dropna())
            if ("resource" in log.table.columns)
            else set()
        )
        verdicts = _classify(
            table,
            list(columns),
            {},
            set(p.extra),
            case="__row",
            customer=customer,
            staff=lambda v: p.value("resource", v) in staff,
        )
    hashed = [v.column for v in verdicts if v.action == "hash"]
    drop = [v.column for v in verdicts if v.action == "withhold"]
    masked = [v.column for v in verdicts if v.action == "mask"]
    p = replace(
        p,
        columns=(*p.columns, *hashed),
        withheld=(*p.withheld, *drop),
        verdicts=(*p.verdicts, *verdicts),
        prefixes=(*p.prefixes, *((v.column, "res-") for v in verdicts if v.rule == "staff")),
    )
    t = log.table
    t = t.mutate(**{c: p.expr(t[c], c) for c in hashed}).drop(*drop)
    t, changed, safe = _mask_columns(t, masked, p)
    p = replace(p, masked=(*p.masked, *changed), safe=p.safe | safe)
    table = log.engine.materialize(t, prefix="fl_pseudo")
    attrs = {k: v for k, v in log.attributes.items() if k not in drop}
    before = log.pseudonyms.describe() if log.pseudonyms else ""
    filters = tuple(p.describe() if f == before else f for f in log.filters)
    return replace_log(log, table=table, pseudonyms=p, attributes=attrs, filters=filters)


__all__ = [
    "IDENTIFIER",
    "Pseudonyms",
    "Verdict",
    "classify_columns",
    "find_identifiers",
    "identifier_columns",
    "key_warning",
    "mask_identifiers",
    "named_like_identifier",
    "protect_columns",
    "pseudonymise",
]
