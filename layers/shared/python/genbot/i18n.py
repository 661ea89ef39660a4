"""Texts in Russian and English through gettext catalogs (aiogram's i18n + Babel).

Catalogs live in ``genbot/locales/<lang>/LC_MESSAGES/messages.po``. Compiled ``.mo`` files
are used when present (the Lambda layer build compiles them); otherwise the ``.po`` is
compiled in memory at start, so a fresh checkout needs no build step.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiogram.utils.i18n import I18n
from babel.support import Translations

LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "messages"
LANGUAGES = ("ru", "en")
DEFAULT_LANGUAGE = "ru"


def N_(msgid: str) -> str:
    """Marks a text for extraction where it is defined; it is translated where it is shown."""
    return msgid


def normalize_language(code: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """Telegram's ``language_code`` (``ru``, ``en-US``, ``uk``...) to one we speak."""
    if not code:
        return default
    base = code.split("-")[0].lower()
    return base if base in LANGUAGES else ("ru" if base in {"uk", "be", "kk"} else "en")


class CatalogI18n(I18n):
    """aiogram's I18n, reading ``.mo`` if compiled or compiling ``.po`` in memory.

    aiogram's ``gettext``/``_`` look the instance up in ``I18n``'s own context variable, and
    a subclass gets a variable of its own, so ``context()`` sets the base class's.
    """

    @contextmanager
    def context(self) -> Iterator[I18n]:
        token = I18n.set_current(self)
        try:
            yield self
        finally:
            I18n.reset_current(token)

    def find_locales(self) -> dict[str, Translations]:  # type: ignore[override]
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        found: dict[str, Translations] = {}
        for lang in LANGUAGES:
            folder = self.path / lang / "LC_MESSAGES"
            mo, po = folder / f"{self.domain}.mo", folder / f"{self.domain}.po"
            if mo.exists():
                with mo.open("rb") as fp:
                    found[lang] = Translations(fp, domain=self.domain)
            elif po.exists():
                with po.open("rb") as fp:
                    catalog = read_po(fp, locale=lang, domain=self.domain)
                buf = io.BytesIO()
                write_mo(buf, catalog)
                buf.seek(0)
                found[lang] = Translations(buf, domain=self.domain)
        return found


@functools.cache
def get_i18n() -> CatalogI18n:
    return CatalogI18n(path=LOCALES_DIR, default_locale=DEFAULT_LANGUAGE, domain=DOMAIN)


def translate(msgid: str, language: str, **params: object) -> str:
    """A text outside an update's context (generate Lambda, notifications)."""
    text = get_i18n().gettext(msgid, locale=language)
    return text.format(**params) if params else text


def translate_plural(singular: str, plural: str, n: int, language: str, **params: object) -> str:
    """A plural text outside an update's context (``{n}`` is filled in)."""
    return get_i18n().gettext(singular, plural, n, locale=language).format(n=n, **params)


def variants(msgid: str) -> frozenset[str]:
    """The text in every language: matches a reply-keyboard button whatever its language."""
    i18n = get_i18n()
    return frozenset(i18n.gettext(msgid, locale=lang) for lang in LANGUAGES)
