"""Where the CLI writes: one console for results, one for warnings and errors.

A line that may hold the user's or a trial's text goes out through `say` or `warn`: as written,
never as rich markup (`[/]` would be an error, `[link=...]` a hyperlink) or emoji codes.

Piped output is for grep, diff and files: rich pads every line of a table or grid to the
console's width, so `show` prints such output with the trailing spaces cut.
"""

from __future__ import annotations

import sys

from rich.console import Console, RenderableType
from rich.segment import Segment, Segments
from rich.text import Text

from nnifc.plain import plain

# Piped output keeps whole tables (rich would squeeze them into 80 columns).
out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 200)


def say(text: str, console: Console = out) -> None:
    """One line (or a few) of text, shown as written."""
    console.print(plain(text), soft_wrap=True)


def warn(text: str) -> None:
    err.print(Text.assemble(("warning: ", "yellow"), plain(text)), soft_wrap=True)


def show(renderable: RenderableType, console: Console = out) -> None:
    """Print a table or grid; off a terminal without the spaces that pad its lines."""
    if console.is_terminal:
        console.print(renderable)
        return
    lines = [without_trailing_spaces(line) for line in console.render_lines(renderable, pad=False)]
    if console.color_system is None:  # plain text: written as is (thousands of trials, fast)
        console.file.write(
            "".join(text for line in lines for text, _, _ in [*line, Segment.line()])
        )
        console.file.flush()
        return
    segments = [segment for line in lines for segment in (*line, Segment.line())]
    console.print(Segments(segments), end="")


def without_trailing_spaces(line: list[Segment]) -> list[Segment]:
    kept = list(line)
    while kept and not kept[-1].control and not kept[-1].text.rstrip():
        kept.pop()
    if kept and not kept[-1].control:
        text, style, control = kept[-1]
        kept[-1] = Segment(text.rstrip(), style, control)
    return kept
