"""Options shared by commands: column mapping, reading, engine, output."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from flowlens.engine import Limits
    from flowlens.log import EventLog
    from flowlens.timing.calendars import CalendarSet

F = Callable[..., Any]


def model_or_log(func: F) -> F:
    """Mark a command whose LOG argument may instead be a simulation model (``MODEL.json``,
    written by ``flowlens fit``): a missing ``.json`` file is then answered as a missing model
    file, in the words :meth:`SimulationModel.load` uses (put it below :func:`log_options`)."""
    func._flowlens_model_or_log = True  # type: ignore[attr-defined]
    return func


def _missing_model(func: F, path: Path) -> None:
    model = getattr(func, "_flowlens_model_or_log", False) and path.name.lower().endswith(".json")
    if model and not path.exists():
        from flowlens.errors import ConfigError

        raise ConfigError(
            f"{path}: no such model file",
            hint="give a model written by flowlens fit (MODEL.json) or an event log",
        )


def log_options(func: F) -> F:
    """LOG argument plus mapping and reading options; the command receives ``read``, a
    callable that returns the :class:`EventLog`."""
    options = [
        click.argument("log_path", metavar="LOG", type=click.Path(path_type=Path)),
        click.option(
            "--case",
            "case_col",
            metavar="COLUMN",
            help="Column holding the case id (default: found by name, else by content).",
        ),
        click.option(
            "--activity",
            "activity_col",
            metavar="COLUMN[+COLUMN]",
            help="Column holding the activity; join several with + (e.g. concept:name+lifecycle:transition). "
            "Given, it is taken as is: a lifecycle column of sub-statuses is then not joined to it.",
        ),
        click.option("--start", "start_col", metavar="COLUMN", help="Column holding start times."),
        click.option("--end", "end_col", metavar="COLUMN", help="Column holding end (completion) times."),
        click.option("--resource", "resource_col", metavar="COLUMN", help="Column holding the resource."),
        click.option(
            "--lifecycle",
            "lifecycle_col",
            metavar="COLUMN",
            help="Column holding lifecycle transitions (given, rows are always paired on it).",
        ),
        click.option(
            "--mapping",
            "mapping_file",
            type=click.Path(path_type=Path),
            help="JSON or TOML file with the roles above.",
        ),
        click.option(
            "--tz", default="UTC", show_default=True, help="Time zone of timestamps without an offset."
        ),
        click.option("--time-format", help="strptime pattern, iso, or epoch_s/epoch_ms/epoch_us."),
        click.option("--delimiter", help="CSV delimiter (detected by default)."),
        click.option("--encoding", help="Text encoding (detected by default; e.g. gb18030)."),
        click.option(
            "--engine",
            type=click.Choice(["duckdb", "spark"]),
            default="duckdb",
            show_default=True,
            help="Engine for the analyses (spark needs flowlens[spark]).",
        ),
    ]

    options += RESOURCE_OPTIONS
    options += FILTER_OPTIONS
    options += [
        click.option(
            "--pseudonymise",
            "pseudonymise_ids",
            is_flag=True,
            help="Replace case, customer and staff ids by keyed pseudonyms in every output.",
        ),
        click.option(
            "--pseudonym-key",
            envvar="FLOWLENS_PSEUDONYM_KEY",
            metavar="SECRET",
            help="Key of the pseudonyms (env FLOWLENS_PSEUDONYM_KEY); the same key gives the same "
            "pseudonyms in every run; without one they change from run to run. Use 16+ characters.",
        ),
        click.option(
            "--pseudonymise-columns",
            multiple=True,
            metavar="COL[,COL]",
            help="Also pseudonymise these columns of the log or --cases table, whatever they hold "
            "(repeatable); a free-text column named here is kept, pseudonymised, not withheld.",
        ),
    ]

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        args = {k: kwargs.pop(k) for k in READ_KEYS}
        # A missing or empty file is told before anything heavy (pandas, the engines) is
        # imported: the answer comes in a fraction of a second (docs/methods.md §15).
        from flowlens.io.source import check_readable

        if args["log_path"] is not None:  # optional for a few commands (sla --list-presets)
            _missing_model(func, args["log_path"])
            check_readable(args["log_path"])
        if args["mapping_file"] is not None:
            from flowlens.columns import ColumnMap

            ColumnMap.from_file(args["mapping_file"])  # read again when the log is
        args["limits"] = resource_limits(kwargs)
        spec = {k: kwargs.pop(k) for k in FILTER_KEYS}
        hide, key = kwargs.pop("pseudonymise_ids"), kwargs.pop("pseudonym_key")
        extra = [c.strip() for v in kwargs.pop("pseudonymise_columns") for c in v.split(",") if c.strip()]
        if (key or extra) and not hide:
            from flowlens.errors import ConfigError

            raise ConfigError(
                f"{'--pseudonym-key' if key else '--pseudonymise-columns'} needs --pseudonymise"
            )
        if hide and key:
            from flowlens.pseudonyms import key_warning

            if warning := key_warning(key):
                click.echo(f"flowlens: warning: {warning}", err=True)

        def read() -> EventLog:
            whole = read_from_options(**args)
            log = apply_filters(whole, **spec)
            if hide:
                from flowlens.io.cases import case_table_columns
                from flowlens.pseudonyms import pseudonymise

                cases = kwargs.get("cases_file")  # a case table joined later may hold extra columns
                later = case_table_columns(cases) if extra and cases is not None else []
                # columns are judged on the whole log: a filter must not leave an id in clear
                log = pseudonymise(log, key=key, extra=extra, later=later, basis=whole)
            return log

        kwargs["read"] = read
        kwargs["log_path"] = args["log_path"]
        return func(**kwargs)

    for opt in reversed(options):
        wrapper = opt(wrapper)
    return wrapper


READ_KEYS = (
    "log_path",
    "case_col",
    "activity_col",
    "start_col",
    "end_col",
    "resource_col",
    "lifecycle_col",
    "mapping_file",
    "tz",
    "time_format",
    "delimiter",
    "encoding",
    "engine",
)


def read_from_options(
    *,
    log_path: Path,
    case_col: str | None,
    activity_col: str | None,
    start_col: str | None,
    end_col: str | None,
    resource_col: str | None,
    lifecycle_col: str | None,
    mapping_file: Path | None,
    tz: str,
    time_format: str | None,
    delimiter: str | None,
    encoding: str | None,
    engine: str,
    limits: Limits | None = None,
) -> EventLog:
    from flowlens.columns import ColumnMap
    from flowlens.io import read_log

    base = ColumnMap.from_file(mapping_file) if mapping_file else ColumnMap()
    explicit = base.merged(
        ColumnMap(
            case=case_col,
            activity=activity_col,
            start=start_col,
            end=end_col,
            resource=resource_col,
            lifecycle=lifecycle_col,
        )
    )
    return read_log(
        log_path,
        explicit,
        tz=tz,
        engine=engine,
        time_format=time_format,
        delimiter=delimiter,
        encoding=encoding,
        limits=limits,
    )


#: ``--memory-limit``, ``--threads``, ``--temp-dir``: what the engines may use (every command
#: that reads a log; the environment variables are read by :meth:`Limits.resolve`).
RESOURCE_OPTIONS = [
    click.option(
        "--memory-limit",
        metavar="SIZE",
        help="Memory the analysis may use, e.g. 600MB, 6GB or 50% (of this machine's); beyond it "
        "the engine spills to --temp-dir. Default: env FLOWLENS_MEMORY_LIMIT, else 80% of memory.",
    ),
    click.option(
        "--threads",
        metavar="N",
        help="Threads the engine may use. Default: env FLOWLENS_THREADS, else every core.",
    ),
    click.option(
        "--temp-dir",
        metavar="DIR",
        help="Folder for spill files when data exceeds --memory-limit (a private subfolder, "
        "removed at exit). Default: env FLOWLENS_TEMP_DIR, else the system temp folder.",
    ),
]
RESOURCE_KEYS = ("memory_limit", "threads", "temp_dir")


def resource_limits(kwargs: dict[str, Any]) -> Limits:
    """Pop the resource options from a command's arguments and resolve them (with the
    environment); an invalid value fails here, before any reading."""
    from flowlens.engine import Limits

    given = {k: kwargs.pop(k) for k in RESOURCE_KEYS}
    return Limits.resolve(**given)


def other_work_option(func: F) -> F:
    """``--other-work FILE``: the same staff's work outside LOG, read in LOG's time zone and
    with its pseudonyms; the command receives ``other_work(log) -> EventLog | None``."""

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        path = kwargs.pop("other_work_file")

        def other_work(log: EventLog) -> EventLog | None:
            if path is None:
                return None
            from flowlens.errors import FlowlensError, InputError
            from flowlens.io import read_log

            try:
                other = read_log(path, tz=log.timezone, limits=log.engine.limits)
            except FlowlensError as exc:
                # its columns are detected: LOG's mapping options do not apply to it
                raise InputError(
                    f"--other-work: {exc.message}",
                    hint="name its columns case_id, activity, resource, start_time, end_time",
                ) from exc
            if log.pseudonyms is not None:
                from flowlens.pseudonyms import pseudonymise

                other = pseudonymise(other, ["resource"], key=log.pseudonyms.key)
            return other

        kwargs["other_work"] = other_work
        return func(**kwargs)

    return click.option(
        "--other-work",
        "other_work_file",
        type=click.Path(path_type=Path),
        help="The same staff's other work (a log of alerts, counter business, meetings, ...): it "
        "keeps them busy in the waiting-cause split and, in a fitted simulation model, as jobs "
        "their pools serve; it is not analysed itself.",
    )(wrapper)  # type: ignore[return-value]


@dataclass(frozen=True)
class TimeOptions:
    """What the time model is built with (``--calendar``, ``--team``, ``--clock-stop``)."""

    calendar_file: Path | None = None
    team: str | None = None
    clock_stop: tuple[str, ...] = ()

    def calendars(self) -> CalendarSet | None:
        if self.calendar_file is None:
            return None
        from flowlens.timing.calendars import CalendarSet

        return CalendarSet.from_file(self.calendar_file)

    def stop(self) -> Sequence[str] | str | None:
        """The time model's ``clock_stop``: None (detect), "end" or activity names."""
        if not self.clock_stop:
            return None
        return "end" if self.clock_stop == ("end",) else list(self.clock_stop)


def time_options(func: F) -> F:
    """``--calendar``, ``--team`` and ``--clock-stop``, passed as ``time_opts: TimeOptions``."""

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        kwargs["time_opts"] = TimeOptions(
            kwargs.pop("calendar_file"), kwargs.pop("team"), tuple(kwargs.pop("clock_stop"))
        )
        return func(**kwargs)

    for option in reversed(
        [
            click.option(
                "--calendar",
                "calendar_file",
                type=click.Path(path_type=Path),
                help="Working calendars (TOML/JSON) for business time and off-shift waiting; "
                "default: discovered from when resources work.",
            ),
            click.option("--team", metavar="COLUMN", help="Column holding the team or role of a resource."),
            click.option(
                "--clock-stop",
                multiple=True,
                metavar="ACTIVITY",
                help="The customer-outcome step (repeatable): the customer's clock stops at its last "
                "completion in a case. 'end' = each case's last step. Default: detected (a closing "
                "step after a long pause is left out).",
            ),
        ]
    ):
        wrapper = option(wrapper)
    return wrapper  # type: ignore[return-value]


def process_option(func: F) -> F:
    """``--process COLUMN|auto|none``: the column telling several processes apart
    (docs/methods.md §3.5); the command receives ``process``: "auto", None or a column."""

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        value = str(kwargs.pop("process_column")).strip()
        kwargs["process"] = (
            None if value.lower() == "none" else ("auto" if value.lower() == "auto" else value)
        )
        return func(**kwargs)

    return click.option(
        "--process",
        "process_column",
        default="auto",
        show_default=True,
        metavar="COLUMN|auto|none",
        help="Column telling several processes apart (auto: detected from how its values split the "
        "activities; none: analyse the log as one process). With one, analyses run within processes.",
    )(wrapper)  # type: ignore[return-value]


def seed_option(func: F | None = None, *, default: int = 0) -> Any:
    """``--seed N``, the one seed of every random draw a command makes (bootstrap intervals,
    samples, generated logs); the command receives ``seed``. ``@seed_option`` or, for another
    default, ``@seed_option(default=7)``."""

    def decorate(f: F) -> F:
        return click.option(
            "--seed",
            type=int,
            default=default,
            show_default=True,
            help="Seed of every random draw (bootstraps, samples, generated logs): same inputs and "
            "seed, same output.",
        )(f)

    return decorate(func) if func is not None else decorate


def allow_option(func: F) -> F:
    """``--allow FILE``: a regulatory allow-list added to the defaults; the command receives
    ``allow_file`` (a path or None)."""
    return click.option(
        "--allow",
        "allow_file",
        type=click.Path(path_type=Path),
        help="Regulatory allow-list (TOML/JSON) added to the defaults: steps never proposed for removal.",
    )(func)


def case_table_options(func: F) -> F:
    """``--cases FILE`` and ``--cases-key COLUMN``: join a per-case table (CSV or Parquet, e.g.
    the generator's cases.parquet) to the log; the command gets ``add_cases(log)``."""

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        path = kwargs.pop("cases_file")
        key = kwargs.pop("cases_key")

        def add_cases(log: EventLog) -> EventLog:
            if path is None:
                return log
            from flowlens.io.cases import add_case_attributes

            return add_case_attributes(log, path, key=key)

        kwargs["add_cases"] = add_cases
        return func(**kwargs)

    wrapper = click.option(
        "--cases-key", metavar="COLUMN", help="Case id column of the --cases table (default: the log's)."
    )(wrapper)
    wrapper = click.option(
        "--cases",
        "cases_file",
        type=click.Path(path_type=Path),
        help="CSV or Parquet table with one row per case whose columns become case attributes "
        "(e.g. segment, product, reason).",
    )(wrapper)
    return wrapper


def bootstrap_options(func: F) -> F:
    """``--resamples N`` and ``--seed N`` for commands with bootstrap confidence intervals."""
    func = click.option(
        "--resamples",
        type=click.IntRange(min=10),
        default=1000,
        show_default=True,
        help="Bootstrap resamples for the confidence intervals.",
    )(func)
    return seed_option(func)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")(func)


def emit_json(obj: Any) -> None:
    """Print ``obj`` as JSON on stdout (the only thing --json prints there)."""
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False, default=_default) + "\n")


def _default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _attr_filter(value: str) -> tuple[str, list[str]]:
    if "=" not in value:
        raise click.BadParameter(f"expected COLUMN=VALUE[,VALUE...], got '{value}'")
    col, vals = value.split("=", 1)
    return col.strip(), [v.strip() for v in vals.split(",")]


FILTER_OPTIONS = [
    click.option(
        "--from",
        "time_from",
        metavar="TIME",
        help="Filter: window start (log's zone unless an offset is given).",
    ),
    click.option("--to", "time_to", metavar="TIME", help="Filter: window end (exclusive)."),
    click.option(
        "--time-mode",
        type=click.Choice(["intersecting", "contained", "started", "completed", "trim"]),
        default="intersecting",
        show_default=True,
        help="Filter: how cases relate to the window (trim keeps only instances inside it).",
    ),
    click.option(
        "--where",
        multiple=True,
        metavar="COLUMN=V1[,V2]",
        help="Filter: cases with an instance whose COLUMN is one of the values (repeatable).",
    ),
    click.option(
        "--where-not",
        multiple=True,
        metavar="COLUMN=V1[,V2]",
        help="Filter: cases with no instance whose COLUMN is one of the values.",
    ),
    click.option(
        "--where-event",
        multiple=True,
        metavar="COLUMN=V1[,V2]",
        help="Filter: keep only instances whose COLUMN is one of the values.",
    ),
    click.option(
        "--variants-top",
        type=click.IntRange(min=1),
        metavar="K",
        help="Filter: cases of the K most frequent variants.",
    ),
    click.option(
        "--variants-coverage",
        type=click.FloatRange(0, 1, min_open=True),
        metavar="SHARE",
        help="Filter: cases of the most frequent variants covering SHARE (0-1) of cases.",
    ),
    click.option(
        "--min-lead", metavar="DURATION", help="Filter: cases with lead time at least this (e.g. 2d, 4h)."
    ),
    click.option("--max-lead", metavar="DURATION", help="Filter: cases with lead time at most this."),
    click.option(
        "--starts-with",
        multiple=True,
        metavar="ACTIVITY",
        help="Filter: cases whose first activity is one of these.",
    ),
    click.option(
        "--ends-with",
        multiple=True,
        metavar="ACTIVITY",
        help="Filter: cases whose last activity is one of these.",
    ),
    click.option(
        "--contains",
        "contains_",
        multiple=True,
        metavar="ACTIVITY",
        help="Filter: cases containing any of these.",
    ),
    click.option(
        "--not-contains", multiple=True, metavar="ACTIVITY", help="Filter: cases containing none of these."
    ),
    click.option(
        "--activities-coverage",
        type=click.FloatRange(0, 1, min_open=True),
        metavar="SHARE",
        help="Filter: keep only the most frequent activities covering SHARE of instances (projection).",
    ),
]
FILTER_KEYS = (
    "time_from",
    "time_to",
    "time_mode",
    "where",
    "where_not",
    "where_event",
    "variants_top",
    "variants_coverage",
    "min_lead",
    "max_lead",
    "starts_with",
    "ends_with",
    "contains_",
    "not_contains",
    "activities_coverage",
)


def apply_filters(
    log: EventLog,
    *,
    time_from: str | None = None,
    time_to: str | None = None,
    time_mode: str = "intersecting",
    where: tuple[str, ...] = (),
    where_not: tuple[str, ...] = (),
    where_event: tuple[str, ...] = (),
    variants_top: int | None = None,
    variants_coverage: float | None = None,
    min_lead: str | None = None,
    max_lead: str | None = None,
    starts_with: tuple[str, ...] = (),
    ends_with: tuple[str, ...] = (),
    contains_: tuple[str, ...] = (),
    not_contains: tuple[str, ...] = (),
    activities_coverage: float | None = None,
) -> EventLog:
    """Apply the command-line filters in a fixed order: case filters first, then projections."""
    from flowlens import filters as F
    from flowlens.units import parse_duration

    if time_from or time_to:
        log = F.filter_time(log, time_from, time_to, mode=time_mode)
    for spec in where:
        col, vals = _attr_filter(spec)
        log = F.filter_attribute(log, col, vals)
    for spec in where_not:
        col, vals = _attr_filter(spec)
        log = F.filter_attribute(log, col, vals, keep=False)
    if starts_with or ends_with:
        log = F.filter_endpoints(log, starts=list(starts_with) or None, ends=list(ends_with) or None)
    if contains_:
        log = F.filter_contains(log, list(contains_))
    if not_contains:
        log = F.filter_contains(log, list(not_contains), keep=False)
    if min_lead or max_lead:
        log = F.filter_lead_time(
            log,
            parse_duration(min_lead) if min_lead else None,
            parse_duration(max_lead) if max_lead else None,
        )
    if variants_top or variants_coverage:
        log = F.filter_variants(log, top=variants_top, coverage=variants_coverage)
    for spec in where_event:
        col, vals = _attr_filter(spec)
        log = F.filter_attribute(log, col, vals, level="event")
    if activities_coverage:
        log = F.filter_activities(log, coverage=activities_coverage)
    return log


def start_column_as(command: click.Command, flag: str = "--start-column") -> click.Command:
    """Give the log's start-time column option another flag on a command whose ``--start`` is
    a time (when a simulated period begins)."""
    for p in command.params:
        if p.name == "start_col" and isinstance(p, click.Option):
            p.opts = [flag]
            p.help = "Column holding start times."
    return command


def _check_lang(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from flowlens.i18n import check_language

    return check_language(value)  # a ConfigError: one line, exit 2


def lang_option(func: F) -> F:
    """``--lang en|zh-CN``: the report's language (words, units, number formats); the command
    receives ``lang`` (checked, canonical spelling)."""
    from flowlens.i18n import LANGUAGES

    return click.option(
        "--lang",
        default="en",
        show_default=True,
        metavar="|".join(LANGUAGES),
        callback=_check_lang,
        help="Language of the report: every sentence, heading, chart label, unit and number format "
        "(zh-CN: Simplified Chinese, 万/亿 for large counts). Values from the log, such as activity "
        "names, stay as they are.",
    )(func)


def jobs_option(what: str) -> Callable[[F], F]:
    """``--jobs N``: how many processes run ``what`` (the command receives ``jobs``, None when
    not given: see :func:`worker_count`)."""
    return click.option(
        "--jobs",
        type=click.IntRange(min=1),
        default=None,
        help=f"Processes {what} (default: up to 2). Results do not depend on it.",
    )


def worker_count(jobs: int | None) -> int:
    """``--jobs`` as given, else up to two processes (results never depend on the number).

    >>> worker_count(3), worker_count(None) in (1, 2)
    (3, True)
    """
    import os

    return jobs if jobs is not None else min(2, os.cpu_count() or 1)
