"""User and trial text as a terminal may show it: as written, never markup or control.

A name, path, parameter or trial message may hold `[/]` or `[link=...]` (rich markup: a
MarkupError, a hyperlink), `:smile:` (an emoji code), or escape sequences a trial printed (a
hyperlink, a cleared screen). Whatever is shown passes through `plain()` (a rich Text, which
rich never parses) or `printable()` (a str); only `nnifc logs` writes a trial's output as is.
"""

from __future__ import annotations

import re

from rich.style import Style
from rich.text import Text

ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, clearing the screen
    r"|\x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC, DCS, ...: hyperlinks, titles
    r"|\x1b[ -/]*[0-~]"  # the rest: character sets, resets
)


def printable(text: str) -> str:
    """`text` with escape sequences dropped, tabs as spaces, other control characters (a
    carriage return, a bell, an 8-bit CSI) as `?`; line breaks kept."""
    if simple(text):
        return text
    text = ESCAPES.sub("", text.replace("\r\n", "\n")).replace("\t", "    ")
    return "".join(c if c.isprintable() or c == "\n" else "?" for c in text)


def one_line(text: str) -> str:
    """`text` printable, its runs of white space (line breaks too) one space each."""
    return " ".join(printable(text).split())


def plain(text: str, style: str | Style = "") -> Text:
    """`text` as a rich Text: printed as written, whatever brackets or colons it holds."""
    return Text(printable(text), style=style)


def simple(text: str) -> bool:
    """One cell per character and nothing a terminal would act on (JSON, ids, most names)."""
    return text.isascii() and text.isprintable()
