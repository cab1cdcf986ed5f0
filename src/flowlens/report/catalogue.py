"""The message catalogues' upkeep: extract the marked messages, update every ``.po``, compile the ``.mo``.

One command does all three (``python -m flowlens.report.catalogue update``, run after new messages
are marked or a branch that marks some is merged); ``check`` says whether the shipped catalogues
are current (tests/test_i18n.py runs it). The extraction reads ``babel.cfg`` at the top of the
source checkout (Python under ``report/`` and ``cli/``, the Jinja templates), with Babel's
extractors, as ``pybabel extract`` does.

Three choices keep the files stable under merges and reruns:

* no line numbers in the ``.po`` (file names only) and fixed header dates: rerunning on an
  unchanged tree changes no byte, and moving code does not touch the catalogue;
* a translation whose message disappears is kept as obsolete (``#~``) and revived when the
  message comes back (a branch merged later, a revert), so no translator's work is lost;
* a message whose text changed is matched to its old translation as *fuzzy* (flagged for
  review, not compiled: the report shows the English until a translator confirms it).

>>> from flowlens.report.catalogue import extract
>>> "no data" in {m.id for m in extract() if m.id}
True
"""

from __future__ import annotations

import argparse
import io
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from flowlens.errors import ConfigError
from flowlens.i18n import DOMAIN, LANGUAGES, SOURCE_LANGUAGE, catalogue_path, gettext_locale

if TYPE_CHECKING:  # Babel is imported where it is used: reading a report needs only gettext
    from babel.messages.catalog import Catalog, Message

#: Fixed header dates: the catalogue's bytes depend on its messages only.
_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
#: Comments in the code that start with this go to the translator (``# TRANSLATORS: ...``).
COMMENT_TAG = "TRANSLATORS:"
_WIDTH = 100
#: Besides gettext's own: the sentences the findings and analyses stages build for later
#: rendering (flowlens.i18n.M_, NM_, PM_), marked as _, ngettext and pgettext are.
EXTRA_KEYWORDS: dict[str, tuple[object, ...] | None] = {"M_": None, "NM_": (1, 2), "PM_": ((1, "c"), 2)}


def source_root() -> Path:
    """The source checkout's top folder (holding ``babel.cfg``), or a one-line error."""
    root = Path(__file__).resolve().parents[3]
    if not (root / "babel.cfg").is_file():
        raise ConfigError(
            f"no babel.cfg above {Path(__file__).parent}: the catalogues are updated in a source "
            "checkout of flowlens (git clone), not in an installed copy"
        )
    return root


def extract(root: Path | None = None) -> Catalog:
    """Every marked message of the package, as a template catalogue (what ``pybabel extract`` writes)."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    from flowlens import __version__

    root = root or source_root()
    with (root / "babel.cfg").open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    template = Catalog(
        domain=DOMAIN,
        project="flowlens",
        version=__version__,
        creation_date=_EPOCH,
        revision_date=_EPOCH,
        charset="utf-8",
        fuzzy=False,
    )
    found = extract_from_dir(
        root / "src" / "flowlens",
        method_map,
        options_map,
        keywords={**DEFAULT_KEYWORDS, **EXTRA_KEYWORDS},
        comment_tags=(COMMENT_TAG,),
        strip_comment_tags=True,
    )
    for filename, _lineno, message, comments, context in found:
        # file names only: a message's line moving is no change to the catalogue
        template.add(
            message, None, [(filename.replace("\\", "/"), None)], auto_comments=comments, context=context
        )
    return template


def _read(lang: str) -> Catalog | None:
    from babel.messages.pofile import read_po

    path = catalogue_path(lang, ".po")
    if not path.is_file():
        return None
    with path.open("rb") as fh:
        return read_po(fh, locale=gettext_locale(lang), domain=DOMAIN)


def _po_bytes(catalog: Catalog) -> bytes:
    from babel.messages.pofile import write_po

    buf = io.BytesIO()
    write_po(buf, catalog, width=_WIDTH, include_lineno=False, include_previous=True)
    return buf.getvalue()


def _mo_bytes(catalog: Catalog) -> bytes:
    from babel.messages.mofile import write_mo

    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    return buf.getvalue()


def _write_if_changed(path: Path, data: bytes) -> bool:
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return True


def _key(message: Message) -> object:
    return (message.id, message.context) if message.context else message.id


def update(langs: tuple[str, ...] | None = None, root: Path | None = None) -> list[str]:
    """Extract, update each language's ``.po`` (new messages added untranslated, vanished ones
    kept as obsolete, returning ones revived) and compile its ``.mo``; returns what changed."""
    from babel.messages.catalog import Catalog

    template = extract(root)
    changed = []
    for lang in langs or tuple(lang for lang in LANGUAGES if lang != SOURCE_LANGUAGE):
        catalog = _read(lang)
        if catalog is None:
            catalog = Catalog(
                locale=gettext_locale(lang),
                domain=DOMAIN,
                project="flowlens",
                version=template.version,
                creation_date=_EPOCH,
                revision_date=_EPOCH,
                charset="utf-8",
                fuzzy=False,
            )
        wanted = {_key(m) for m in template if m.id}
        for key, message in list(catalog.obsolete.items()):
            if key in wanted and catalog.get(message.id, message.context) is None:
                catalog[message.id] = message  # a message that came back: its translation too
                del catalog.obsolete[key]
        catalog.update(template, update_creation_date=False)
        po_path = catalogue_path(lang, ".po")
        if _write_if_changed(po_path, _po_bytes(catalog)):
            changed.append(str(po_path))
        # compiled from the file as written, as the check compiles it
        if _write_if_changed(catalogue_path(lang), _mo_bytes(_read(lang))):
            changed.append(str(catalogue_path(lang)))
    translations_cache_clear()
    return changed


def translations_cache_clear() -> None:
    from flowlens.i18n import translations

    translations.cache_clear()


@dataclass(frozen=True)
class Status:
    """How one language's shipped catalogue compares with the source."""

    lang: str
    #: marked in the source, absent from the .po (run update)
    missing: tuple[str, ...]
    #: in the .po, no longer marked in the source (run update: they become obsolete)
    stale: tuple[str, ...]
    #: in the .po without a (confirmed) translation: empty or fuzzy
    untranslated: tuple[str, ...]
    #: the .mo is not the compiled .po (run update)
    mo_outdated: bool

    def problems(self) -> list[str]:
        out = []
        po = catalogue_path(self.lang, ".po")
        if self.missing:
            out.append(
                f"{po}: {len(self.missing)} marked messages missing, e.g. {self.missing[0]!r}: run update"
            )
        if self.stale:
            out.append(
                f"{po}: {len(self.stale)} messages no longer in the source, e.g. {self.stale[0]!r}: run update"
            )
        if self.untranslated:
            out.append(
                f"{po}: {len(self.untranslated)} messages untranslated or fuzzy, e.g. {self.untranslated[0]!r}: "
                "translate them (and remove the fuzzy flag), then run update"
            )
        if self.mo_outdated:
            out.append(f"{catalogue_path(self.lang)} is not the compiled {po.name}: run update")
        return out


def status(lang: str, root: Path | None = None) -> Status:
    """Compare ``lang``'s ``.po`` and ``.mo`` with the messages marked in the source."""
    template = extract(root)
    catalog = _read(lang)
    wanted = {_key(m): m for m in template if m.id}
    have = {} if catalog is None else {_key(m): m for m in catalog if m.id}
    mo = catalogue_path(lang)
    compiled = None if catalog is None else _mo_bytes(catalog)
    untranslated = [
        m for k, m in have.items() if k in wanted and (m.fuzzy or not m.string or not all(_strings(m)))
    ]
    return Status(
        lang=lang,
        missing=tuple(_text(m) for k, m in wanted.items() if k not in have),
        stale=tuple(_text(m) for k, m in have.items() if k not in wanted),
        untranslated=tuple(_text(m) for m in untranslated),
        mo_outdated=compiled is None or not mo.is_file() or mo.read_bytes() != compiled,
    )


def _strings(message: Message) -> tuple[str, ...]:
    s = message.string
    return tuple(s) if isinstance(s, (tuple, list)) else (s,)


def _text(message: Message) -> str:
    return message.id[0] if isinstance(message.id, (tuple, list)) else message.id


def cli(argv: list[str]) -> int:
    """``update`` / ``check`` / ``extract POT`` (see the module notes)."""
    parser = argparse.ArgumentParser(
        prog="python -m flowlens.report.catalogue",
        description="Keep the report's message catalogues current.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("update", help="extract, update every .po, compile every .mo")
    up.add_argument("--lang", action="append", choices=[x for x in LANGUAGES if x != SOURCE_LANGUAGE])
    sub.add_parser("check", help="exit 1 when a catalogue is stale, incomplete or not compiled")
    ex = sub.add_parser("extract", help="write the template (.pot) for a translation tool")
    ex.add_argument("pot", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "update":
            for path in update(tuple(args.lang) if args.lang else None):
                print(f"updated {path}")  # noqa: T201
            for lang in LANGUAGES:
                if lang != SOURCE_LANGUAGE:
                    todo = status(lang).untranslated
                    if todo:
                        print(f"{lang}: {len(todo)} messages to translate in {catalogue_path(lang, '.po')}")  # noqa: T201
            return 0
        if args.command == "extract":
            _write_if_changed(args.pot, _po_bytes(extract()))
            print(f"wrote {args.pot}")  # noqa: T201
            return 0
        problems = [p for lang in LANGUAGES if lang != SOURCE_LANGUAGE for p in status(lang).problems()]
        for p in problems:
            print(p)  # noqa: T201
        return 1 if problems else 0
    except ConfigError as exc:
        print(f"flowlens: error: {exc.one_line()}")  # noqa: T201
        return 2


if __name__ == "__main__":
    raise SystemExit(cli(sys.argv[1:]))
