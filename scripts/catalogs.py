"""Keep the gettext catalogs in step with the code.

    python scripts/catalogs.py update   # extract texts, merge into ru/en .po (keeps translations)
    python scripts/catalogs.py check    # exit 1 if a text lacks a translation or the .po is stale

The English catalog maps each text to itself (the code's texts are English).
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "layers/shared/python/genbot"
LOCALES = PACKAGE / "locales"
KEYWORDS = {
    "_": None,
    "N_": None,
    "translate": (1,),
    "gettext": (1, 2),
    "lazy_gettext": (1, 2),
    "ngettext": (1, 2),
    "translate_plural": (1, 2),
}


def extract() -> Catalog:
    template = Catalog(project="genbot")
    method_map = [("**.py", "python")]
    for filename, lineno, message, comments, _ctx in extract_from_dir(
        PACKAGE, method_map=method_map, keywords=KEYWORDS, comment_tags=("i18n:",)
    ):
        template.add(message, locations=[(filename, lineno)], auto_comments=comments)
    return template


def po_path(lang: str) -> Path:
    return LOCALES / lang / "LC_MESSAGES" / "messages.po"


def load(lang: str) -> Catalog:
    path = po_path(lang)
    if not path.exists():
        return Catalog(locale=lang, project="genbot")
    with path.open("rb") as fp:
        return read_po(fp, locale=lang)


def ids(message_id: str | tuple[str, ...]) -> str:
    return message_id if isinstance(message_id, str) else message_id[0]


def translated(string: str | tuple[str, ...] | None) -> bool:
    if isinstance(string, tuple):
        return all(string)
    return bool(string)


def update() -> None:
    template = extract()
    for lang in ("ru", "en"):
        catalog = load(lang)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        if lang == "en":
            for message in catalog:
                if message.id and not translated(message.string):
                    message.string = message.id
        path = po_path(lang)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fp:
            write_po(fp, catalog, width=100, omit_header=False, sort_output=True)


def check() -> int:
    wanted = {ids(m.id) for m in extract() if m.id}
    status = 0
    for lang in ("ru", "en"):
        catalog = load(lang)
        have = {ids(m.id): m for m in catalog if m.id}
        missing = sorted(wanted - set(have))
        untranslated = sorted(
            k
            for k, m in have.items()
            if k in wanted and (not m.string or (isinstance(m.string, tuple) and not all(m.string)))
        )
        stale = sorted(set(have) - wanted)
        for label, items in (("missing", missing), ("untranslated", untranslated), ("stale", stale)):
            for item in items:
                sys.stderr.write(f"{lang}: {label}: {item!r}\n")
                status = 1
    return status


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "check"
    if command == "update":
        update()
    else:
        sys.exit(check())
