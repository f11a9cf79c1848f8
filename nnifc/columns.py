"""Tables laid out by hand, so the short columns a person acts on always show whole.

rich's `Table` shares a narrow terminal out among all columns, so at 80 columns a trial id
became `ha…`, and one long failure message squeezed every other column to nothing; it also took
seconds for thousands of rows. Here the short columns (ids, statuses, numbers, times) are
measured first and never cut; one long column comes last and takes the width that is left
(wrapped, elided, or on lines of its own under the row when the room left is narrow); columns
that may give way are dropped, in order, when that room would be too small; and a note (a
trial's message, an experiment's reason) goes on lines of its own under its row, wrapped to
the width. Lines end without padding, so piped output has no trailing spaces.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from rich.cells import cell_len
from rich.console import Console, RenderResult
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from nnifc.plain import printable, simple

GAP = "  "
BOLD = Style(bold=True)

Line = list[Segment]


@dataclass(frozen=True, eq=False)  # hashed by identity: a dict key for every cell
class Column:
    title: str
    right: bool = False


@dataclass(frozen=True)
class Entry:
    """One row: short ASCII cells (ids, statuses, numbers, times), the long last column, a note."""

    cells: dict[Column, str]
    tail: str
    styles: dict[Column, Style] = field(default_factory=dict)
    note: Text | None = None


class Layout:
    """Which columns show, how wide each is, and how an entry becomes lines, for one width."""

    def __init__(
        self,
        columns: Sequence[Column],
        entries: Iterable[Entry],
        width: int,
        *,
        tail_title: str,
        indent_under: Column,
        give_way: Sequence[Column] = (),
        optional: Sequence[Column] = (),
        tail_min: int = 24,
        below_under: int | None = None,
        elide: bool = False,
        note_lines: int | None = None,
    ) -> None:
        """`indent_under`: the column notes (and a tail below its row) start under;
        `below_under`: a tail column narrower than this puts long tails under their rows;
        `elide`: one line per tail, cut with `…`; `note_lines`: the most lines a note takes;
        `optional`: columns shown only when some entry has something in them."""
        entries = list(entries)
        self.width, self.tail_title = width, tail_title
        self.elide, self.note_lines = elide, note_lines
        self.widths = {c: max([len(c.title), *(len(e.cells[c]) for e in entries)]) for c in columns}
        # a column with nothing in it only takes room (no trial reported an intermediate)
        sparse = (*give_way, *optional)
        filled = [c for c in columns if c not in sparse or any(e.cells[c] for e in entries)]
        self.columns = self._fitted(filled, give_way, lambda: width - self._tail_at() >= tail_min)
        longest = max((cell_width(e.tail) for e in entries), default=0)
        room = width - self._tail_at()
        self.below = room < len("{...}") or (
            not elide and below_under is not None and room < below_under < longest
        )
        if self.below:  # the row needs only its own columns' room
            self.columns = self._fitted(
                filled, give_way, lambda: self._tail_at() - len(GAP) <= width
            )
        self.tail_at = self._tail_at()
        self.tail_width = width - self.tail_at
        shown = self.columns.index(indent_under) if indent_under in self.columns else 0
        self.indent = sum(self.widths[c] + len(GAP) for c in self.columns[:shown])

    def _fitted(
        self, columns: list[Column], give_way: Sequence[Column], fits: Callable[[], bool]
    ) -> list[Column]:
        self.columns = list(columns)
        for column in give_way:
            if fits():
                break
            if column in self.columns:
                self.columns.remove(column)
        return self.columns

    def _tail_at(self) -> int:
        return sum(self.widths[c] + len(GAP) for c in self.columns)

    def header(self) -> Line:
        titles = [
            c.title.rjust(self.widths[c]) if c.right else c.title.ljust(self.widths[c])
            for c in self.columns
        ]
        return trimmed([(GAP.join([*titles, "" if self.below else self.tail_title]), BOLD)])

    def lines(self, entry: Entry, console: Console) -> list[Line]:
        """The entry's row, the rest of its tail if it wraps, then its note."""
        parts: list[tuple[str, Style | None]] = []
        plain = ""
        for column in self.columns:
            cell = entry.cells[column]
            padding = " " * (self.widths[column] - len(cell))
            style = entry.styles.get(column)
            if style is None:
                plain += (padding + cell if column.right else cell + padding) + GAP
                continue
            parts += [(plain + (padding if column.right else ""), None), (cell, style)]
            plain = ("" if column.right else padding) + GAP
        if self.below:
            rows = [trimmed([*parts, (plain, None)])]
            rows += self._under(wrapped(entry.tail, self.width - self.indent, console))
        elif self.elide:
            tail = elided(entry.tail, self.tail_width)
            rows = [trimmed([*parts, (plain + tail, None)])]
        else:
            first, *rest = wrapped(entry.tail, self.tail_width, console) or [""]
            rows = [trimmed([*parts, (plain + first, None)])]
            rows += [trimmed([(" " * self.tail_at + line, None)]) for line in rest]
        if entry.note is not None:
            rows += self._note(entry.note, console)
        return rows

    def _under(self, lines: Sequence[str]) -> list[Line]:
        return [trimmed([(" " * self.indent + line, None)]) for line in lines]

    def _note(self, note: Text, console: Console) -> list[Line]:
        room = max(self.width - self.indent, 20)
        lines = list(note.wrap(console, room, overflow="fold"))
        if self.note_lines is not None and len(lines) > self.note_lines:
            lines = lines[: self.note_lines]
            lines[-1].append(" …")
            lines[-1].truncate(room, overflow="ellipsis")
        rows = []
        for line in lines:
            line.rstrip()
            rows.append([Segment(" " * self.indent), *line.render(console)])
        return rows


def trimmed(parts: Sequence[tuple[str, Style | None]]) -> Line:
    """Segments for the pieces of one line, without the spaces that would end it."""
    line = [Segment(text, style) for text, style in parts if text]
    while line and not line[-1].text.rstrip():
        line.pop()
    if line:
        line[-1] = Segment(line[-1].text.rstrip(), line[-1].style)
    return line


def wrapped(text: str, width: int, console: Console) -> list[str]:
    """`text` in lines of at most `width` cells, broken at spaces (longer words are cut)."""
    if not simple(text):
        text = printable(text)
        return [line.plain for line in Text(text).wrap(console, max(width, 1), overflow="fold")]
    if len(text) <= width or width < 1:
        return [text]
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        joined = f"{line} {word}" if line else word
        if len(joined) <= width:
            line = joined
            continue
        if line:
            lines.append(line)
        while len(word) > width:
            lines.append(word[:width])
            word = word[width:]
        line = word
    return [*lines, line] if line else lines


def elided(text: str, width: int) -> str:
    """`text` on one line of at most `width` cells, ending in `…` when it was cut."""
    if simple(text):
        return text if len(text) <= width else text[: max(width - 1, 0)] + "…"
    line = Text(" ".join(printable(text).split()))
    line.truncate(width, overflow="ellipsis")
    return line.plain


def cell_width(text: str) -> int:
    return len(text) if simple(text) else cell_len(printable(text))


def emit(lines: Iterable[Line]) -> RenderResult:
    """Lines already fitted to the width, as segments (no second wrap, no padding)."""
    for line in lines:
        yield from line
        yield Segment.line()
