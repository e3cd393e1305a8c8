"""Bilingual text (中文 first, then English): one catalogue for everything a user reads.

The CLI prints both languages (``中文 / English``); the app and the exports pick one. Every
problem a user can see is a :class:`Problem`: where it is (file and line, or sheet, row and
column), the key path, and a catalogue message filled with its parameters, so that the CLI,
the workbook import and the app say the same thing in the same words.

Modules add their own messages with :func:`define` at import time (keys are namespaced by
module, e.g. ``optimize.no_variables``); a key defined twice with different text is a bug and
raises at import.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")
SEPARATOR = " / "


@dataclass(frozen=True)
class Text:
    """One message in both languages; ``{name}`` fields are filled by :meth:`format`."""

    zh: str
    en: str

    def get(self, lang: Lang | None = None, **params: Any) -> str:
        """The text in ``lang``, or both (``中文 / English``) when ``lang`` is None."""
        if lang is None:
            zh, en = self.zh.format(**params), self.en.format(**params)
            return zh if zh == en else f"{zh}{SEPARATOR}{en}"
        if lang not in LANGS:
            raise ValueError(f"unknown language {lang!r}; use zh or en")
        return getattr(self, lang).format(**params)


MESSAGES: dict[str, Text] = {}


def define(entries: Mapping[str, tuple[str, str]]) -> None:
    """Add ``{key: (中文, English)}`` messages to the catalogue."""
    for key, (zh, en) in entries.items():
        text = Text(zh, en)
        if MESSAGES.setdefault(key, text) != text:
            raise ValueError(f"message {key!r} is defined twice with different text")


def message(key: str, lang: Lang | None = None, /, **params: Any) -> str:
    """Catalogue message ``key`` with its parameters, in ``lang`` or in both languages."""
    return MESSAGES[key].get(lang, **params)


def did_you_mean(word: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """The closest valid spellings of ``word`` (difflib, best first)."""
    return difflib.get_close_matches(str(word), [str(c) for c in choices], n=n, cutoff=0.6)


@dataclass(frozen=True)
class Problem:
    """One problem with the user's input, renderable in either language or both.

    ``where`` is the file (``scenarios/x.yaml``) or empty; ``line`` the 1-based line in a text
    file; ``sheet``, ``row`` and ``column`` the cell of a workbook or CSV row (shown as
    ``sheet firms, row 3, column origin`` / ``工作表 firms，第 3 行，origin 列``); ``path`` the
    key path (``agreements[0].rule.shares``); ``key`` a catalogue message and ``params`` its
    fields; ``close`` the valid spellings closest to a wrong one (see :func:`did_you_mean`),
    shown as "did you mean ...".
    """

    key: str
    params: Mapping[str, Any] = field(default_factory=dict)
    where: str = ""
    line: int | None = None
    path: str = ""
    close: tuple[str, ...] = ()
    sheet: str = ""
    row: int | None = None
    column: str = ""

    def message(self, lang: Lang | None = None) -> str:
        if not self.close:
            return message(self.key, lang, **self.params)
        choices = ", ".join(repr(c) for c in self.close)
        if lang is not None:
            return message(self.key, lang, **self.params) + message("did_you_mean", lang,
                                                                    choices=choices)
        return SEPARATOR.join(self.message(one) for one in LANGS)

    def cell(self, lang: Lang | None = None) -> str:
        """The sheet, row and column, in ``lang`` (English when None: the words name the
        sheet and column as the file spells them)."""
        one = lang or "en"
        parts = [message(f"place.{name}", one, value=value)
                 for name, value in (("sheet", self.sheet), ("row", self.row),
                                     ("column", self.column)) if value not in ("", None)]
        return ("，" if one == "zh" else ", ").join(parts)

    def place(self, lang: Lang | None = None) -> str:
        where = f"{self.where}:{self.line}" if self.where and self.line else self.where
        return ": ".join(p for p in (where, self.cell(lang), self.path) if p)

    def text(self, lang: Lang | None = None) -> str:
        """``file:line: key.path: message``, in ``lang`` or both languages."""
        place = self.place(lang)
        return f"{place}: {self.message(lang)}" if place else self.message(lang)

    def __str__(self) -> str:
        return self.text()

    def at(self, where: str | None = None, line: int | None = None,
           path: str | None = None, **cell: Any) -> Problem:
        """The same problem placed somewhere else (a file, a line, a longer key path, a
        ``sheet``, ``row`` or ``column``)."""
        changes = {k: v for k, v in (("where", where), ("line", line), ("path", path))
                   if v is not None}
        return replace(self, **changes, **cell)


def raw(text: str, **place: Any) -> Problem:
    """A problem whose text is already written (both languages in one string)."""
    return Problem("raw", {"text": text}, **place)


define({
    "raw": ("{text}", "{text}"),
    "bad_input": ("输入有误", "bad input"),
    "internal_error": ("内部错误：{error}；请连同情景文件报告此问题",
                       "internal error: {error}; please report this with the scenario file"),
    "did_you_mean": ("；您是否指 {choices}？", "; did you mean {choices}?"),
    "cannot_do": ("无法完成：{reason}", "cannot do that: {reason}"),
    "wrote": ("已写入 {path}", "wrote {path}"),
    "place.sheet": ("工作表 {value}", "sheet {value}"),
    "place.row": ("第 {value} 行", "row {value}"),
    "place.column": ("{value} 列", "column {value}"),
})
