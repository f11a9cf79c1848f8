"""One Python file's annotations expanded in place, as text edits that keep its line numbers.

NNI regenerated the whole file with astor. Here only the annotated spots change: a report or
get_next_parameter string becomes the call, an annotated assignment's value and a
function_choice's matching calls become calls into the helper module, and the helper's import
joins an existing line. Each replacement is one line padded with newlines inside its own
parentheses, so every other line keeps its number and tracebacks point at the user's lines.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from nnifc.annotations.language import (
    HELPER,
    AnnotationError,
    FunctionChoice,
    Parameter,
    Statement,
    Variable,
    parse,
)
from nnifc.errors import Problem

NEWLINE = re.compile(r"\r\n|\r|\n")
CODING = re.compile(r"^[ \t\f]*#.*?coding[:=]")
COMPOUND = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.If,
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.With,
    ast.AsyncWith,
    ast.Try,
    ast.TryStar,
    ast.Match,
)


@dataclass(frozen=True)
class Defined:
    """A parameter and the annotation that defined it, for duplicate-name messages."""

    parameter: Parameter
    line: int
    column: int


@dataclass(frozen=True)
class Rewritten:
    data: bytes | None  # the expanded file; None when it has no annotations
    parameters: tuple[Defined, ...]
    problems: tuple[Problem, ...]


@dataclass(frozen=True)
class Edit:
    start: int  # character offsets into the decoded text
    end: int
    text: str


def rewrite(path: Path, module: str, data: bytes) -> Rewritten:
    """Expand the annotations of `data`, the file at `path` whose module name is `module`."""
    try:
        encoding = tokenize.detect_encoding(io.BytesIO(data).readline)[0]
        text = data.decode(encoding)
    except (SyntaxError, UnicodeDecodeError, LookupError) as e:
        return Rewritten(None, (), (Problem(path, 0, 0, "", f"cannot decode: {e}"),))
    try:
        tree = _parse(text)
    except SyntaxError as e:
        problem = Problem(path, e.lineno or 0, e.offset or 0, "", f"not valid Python: {e.msg}")
        return Rewritten(None, (), (problem,))
    scan = _Scan(path, module, _Source(text))
    scan.block(tree.body, covered=False)
    if scan.problems or not scan.edits:
        return Rewritten(None, tuple(scan.parameters), tuple(scan.problems))
    expanded = scan.source.apply([*scan.edits, _import_edit(tree, scan.source)])
    try:
        _parse(expanded)
    except SyntaxError as e:  # a bug here, not the user's: say so with the position
        problem = Problem(path, e.lineno or 0, 0, "", f"internal error expanding: {e.msg}")
        return Rewritten(None, (), (problem,))
    return Rewritten(expanded.encode(encoding), tuple(scan.parameters), ())


def _parse(text: str) -> ast.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. invalid escape sequences: the trial's business
        return ast.parse(text)


class _Source:
    """The decoded text, addressed by ast's (1-based line, UTF-8 byte column) positions."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [m.end() for m in NEWLINE.finditer(text)]
        first = NEWLINE.search(text)
        self.newline = first.group() if first else "\n"

    def line(self, number: int) -> str:
        end = self.starts[number] if number < len(self.starts) else len(self.text)
        return self.text[self.starts[number - 1] : end]

    def offset(self, line: int, byte_column: int) -> int:
        head = self.line(line).encode("utf-8")[:byte_column].decode("utf-8", "replace")
        return self.starts[line - 1] + len(head)

    def span(self, node: ast.stmt | ast.expr) -> tuple[int, int]:
        assert node.end_lineno is not None and node.end_col_offset is not None
        start = self.offset(node.lineno, node.col_offset)
        return start, self.offset(node.end_lineno, node.end_col_offset)

    def replace(self, node: ast.stmt | ast.expr, code: str) -> Edit:
        """Put one-line `code` (a call) where `node` is, padded to the lines `node` took."""
        assert node.end_lineno is not None
        padding = self.newline * (node.end_lineno - node.lineno)
        if padding:  # the last line keeps its indentation
            last = self.line(node.end_lineno)
            padding += last[: len(last) - len(last.lstrip(" \t"))]
        return Edit(*self.span(node), code[:-1] + padding + code[-1:])

    def apply(self, edits: list[Edit]) -> str:
        text = self.text
        for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
            text = text[: edit.start] + edit.text + text[edit.end :]
        return text


class _Scan:
    """Walks every statement list of one file, collecting edits, parameters and problems."""

    def __init__(self, path: Path, module: str, source: _Source) -> None:
        self.path, self.module, self.source = path, module, source
        self.edits: list[Edit] = []
        self.parameters: list[Defined] = []
        self.problems: list[Problem] = []

    def block(self, body: list[ast.stmt], *, covered: bool) -> None:
        annotated: set[int] = set()  # ids of statements annotated by function_choice
        for index, stmt in enumerate(body):
            text = annotation_text(stmt)
            if text is not None:
                target = body[index + 1] if index + 1 < len(body) else None
                if covered:
                    self.problem(
                        stmt,
                        "an annotation inside a statement annotated by "
                        "@nni.function_choice is not supported (NNI ignored it)",
                    )
                elif self.annotation(stmt, text, target) and target is not None:
                    annotated.add(id(target))
            for child in _child_blocks(stmt):
                self.block(child, covered=covered or id(stmt) in annotated)

    def annotation(self, string: ast.stmt, text: str, target: ast.stmt | None) -> bool:
        """Handle one annotation; True when it annotates `target` with a function_choice."""
        try:
            found = parse(text[1:], self.module)
            if isinstance(found, Statement):
                self.edits.append(self.source.replace(string, found.code()))
                return False
            if target is None or _is_string(target):
                raise AnnotationError(
                    "an annotation must be followed by the statement it annotates"
                    + (", not by another string" if target is not None else "")
                )
            if isinstance(found, Variable):
                self.edits.append(self.variable(found, target))
            else:
                self.edits.extend(self.function_choice(found, target))
        except AnnotationError as e:
            self.problem(string, e.message, e)
            return False
        self.parameters.append(Defined(found.parameter, *self.position(string)))
        return isinstance(found, FunctionChoice)

    def variable(self, variable: Variable, target: ast.stmt) -> Edit:
        if not isinstance(target, ast.Assign) or len(target.targets) != 1:
            raise AnnotationError(
                "@nni.variable must be followed by an assignment to its name "
                f"({ast.unparse(variable.target)} = ...), found line {target.lineno}"
            )
        if ast.unparse(target.targets[0]) != ast.unparse(variable.target):
            raise AnnotationError(
                f"@nni.variable names {ast.unparse(variable.target)} but line {target.lineno} "
                f"assigns {ast.unparse(target.targets[0])}"
            )
        return self.source.replace(target.value, variable.code())

    def function_choice(self, choice: FunctionChoice, target: ast.stmt) -> list[Edit]:
        calls = list(_outermost_calls(target, choice.calls))
        if not calls:
            raise AnnotationError(
                f"line {target.lineno} calls none of the options of @nni.function_choice "
                "(outside other calls)"
            )
        return [self.source.replace(call, choice.code()) for call in calls]

    def position(self, string: ast.stmt, error: AnnotationError | None = None) -> tuple[int, int]:
        """1-based line and column in the file of the annotation, or of `error` inside it."""
        line, column = string.lineno, string.col_offset
        start = self.source.offset(line, column)
        at = self.source.text.find("@", start)  # after the quotes: where the text's column 0 is
        column = at - self.source.starts[line - 1]
        if error is None:
            return line, column + 1
        if error.line > 1:
            return line + error.line - 1, error.column + 1
        return line, column + 1 + error.column + 1

    def problem(self, string: ast.stmt, message: str, error: AnnotationError | None = None) -> None:
        line, column = self.position(string, error)
        self.problems.append(Problem(self.path, line, column, "", message))


def annotation_text(stmt: ast.stmt) -> str | None:
    """The string of a standalone string statement that NNI read as an annotation."""
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
        text = stmt.value.value
        if isinstance(text, str) and text.startswith("@nni."):
            return text
    return None


def _is_string(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _child_blocks(node: ast.AST) -> Iterator[list[ast.stmt]]:
    for _, value in ast.iter_fields(node):
        if not isinstance(value, list):
            continue
        if value and isinstance(value[0], ast.stmt):
            yield value
        for item in value:
            if isinstance(item, ast.excepthandler | ast.match_case):
                yield from _child_blocks(item)


def _outermost_calls(node: ast.AST, wanted: frozenset[str]) -> Iterator[ast.Call]:
    """Calls equal to an option, not looking inside any call (NNI's FuncReplacer)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Call):
            if ast.dump(child) in wanted:
                yield child
        else:
            yield from _outermost_calls(child, wanted)


def _import_edit(tree: ast.Module, source: _Source) -> Edit:
    """`import _nnifc_annotation` at the top of the module, on a line it already has."""
    body, index = tree.body, 0
    anchor: ast.stmt | None = None
    if body and _is_string(body[0]) and annotation_text(body[0]) is None:
        anchor, index = body[0], 1  # the docstring
    while index < len(body) and _is_future_import(body[index]):
        anchor, index = body[index], index + 1
    if anchor is not None:
        end = source.span(anchor)[1]
        return Edit(end, end, f"; import {HELPER}")
    first = body[0]
    start = source.offset(first.lineno, 0)
    if not isinstance(first, COMPOUND):
        return Edit(start, start, f"import {HELPER}; ")
    decorators = getattr(first, "decorator_list", [])
    first_line = min([first.lineno, *(d.lineno for d in decorators)])
    spare = _spare_line(source, first_line)
    if spare is None:
        start = source.offset(first_line, 0)
        return Edit(start, start, f"import {HELPER}{source.newline}")
    line = source.line(spare).rstrip("\r\n")
    comment = line.strip()
    text = f"import {HELPER}" + (f"  {comment}" if comment else "")
    return Edit(source.starts[spare - 1], source.starts[spare - 1] + len(line), text)


def _is_future_import(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__"


def _spare_line(source: _Source, before: int) -> int | None:
    """The last blank or comment-only line above line `before`, sparing shebang and coding."""
    for number in range(before - 1, 0, -1):
        line = source.line(number)
        if number == 1 and line.startswith("#!"):
            continue
        if number <= 2 and CODING.match(line):
            continue
        if not line.strip() or line.lstrip().startswith("#"):
            return number
    return None
