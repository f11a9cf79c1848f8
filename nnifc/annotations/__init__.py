"""NNI annotations (`useAnnotation: true`): trial code that declares its own search space.

NNI v1/v2 let a trial mark hyperparameters with strings such as
`'''@nni.variable(nni.choice(2, 3), name=conv_size)'''` above `conv_size = 5`; before an
experiment, nnictl rewrote the code into calls to `nni.smartparam` and derived the search space
from them. nni 3.0 dropped both, and nnifc runs trials without nnictl, so `expand` does that
step itself: same keys and values as NNI generated (see language.py), while the rewritten code
calls a small helper module that works with nni 3.0, older nni, or nnifc.trial alone.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from nnifc.annotations.language import HELPER
from nnifc.annotations.rewrite import Defined, Rewritten, rewrite
from nnifc.errors import ConfigError, Problem, StorageError

__all__ = ["HELPER_FILE", "expand", "search_space"]

HELPER_FILE = f"{HELPER}.py"
RUNTIME = Path(__file__).with_name("runtime.py")


@dataclass(frozen=True)
class _Entry:
    relative: PurePosixPath
    kind: str  # "dir" | "file" | "link"; anything else (FIFOs, sockets, devices) is left out


def expand(code_dir: Path, out_dir: Path) -> dict[str, Any]:
    """Copy `code_dir` to `out_dir` with annotations expanded; return the search space.

    `out_dir` must be new or empty and outside `code_dir`. Python files with annotations are
    rewritten (keeping their line numbers), all other files are copied byte for byte, and
    symlinks are copied as symlinks, never followed. When any file was rewritten,
    `_nnifc_annotation.py` is written at the top of `out_dir` and beside each rewritten file.
    The search space is in NNI's JSON format, keyed `<module>/<name>/<function>` as NNI keyed it.
    Raises ConfigError listing every bad annotation (and unparsable .py file) with its position;
    nothing is written then.
    """
    code_dir, out_dir = Path(code_dir), Path(out_dir)
    _check_out_dir(code_dir, out_dir)
    entries, results, space = _scan(code_dir)
    _write(code_dir, out_dir, entries, results)
    return space


def search_space(code_dir: Path) -> dict[str, Any]:
    """The search space `expand` would return, with the same checks, writing nothing."""
    return _scan(Path(code_dir))[2]


def _scan(
    code_dir: Path,
) -> tuple[list[_Entry], dict[PurePosixPath, Rewritten], dict[str, Any]]:
    entries = list(_walk(code_dir, PurePosixPath()))
    results = {
        e.relative: _rewrite(code_dir, e.relative)
        for e in entries
        if e.kind == "file" and e.relative.name.endswith(".py")
    }
    problems = [p for r in results.values() for p in r.problems]
    space, clashes = _search_space(code_dir, results)
    problems += clashes + _helper_clashes(code_dir, entries, results)
    if problems:
        raise ConfigError(problems)
    return entries, results, space


def module_name(relative: PurePosixPath) -> str:
    """NNI's module name of a file in codeDir: `pkg/sub/mod.py` is `pkg.sub.mod`."""
    return ".".join([*relative.parent.parts, relative.name[: -len(".py")]])


def _check_out_dir(code_dir: Path, out_dir: Path) -> None:
    if not code_dir.is_dir():
        raise StorageError(f"codeDir {code_dir} is not a directory")
    if out_dir.resolve().is_relative_to(code_dir.resolve()):
        raise ValueError(f"{out_dir} is inside codeDir {code_dir}")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise FileExistsError(f"{out_dir} must be a new or empty directory")


def _walk(directory: Path, relative: PurePosixPath) -> Iterator[_Entry]:
    with os.scandir(directory) as it:
        children = sorted(it, key=lambda e: e.name)
    for child in children:
        path = relative / child.name
        if child.is_symlink():
            yield _Entry(path, "link")
        elif child.is_dir(follow_symlinks=False):
            yield _Entry(path, "dir")
            yield from _walk(Path(child.path), path)
        elif child.is_file(follow_symlinks=False):
            yield _Entry(path, "file")


def _rewrite(code_dir: Path, relative: PurePosixPath) -> Rewritten:
    path = code_dir / relative
    try:
        data = path.read_bytes()
    except OSError as e:
        return Rewritten(None, (), (Problem(path, 0, 0, "", f"cannot read: {e.strerror}"),))
    return rewrite(path, module_name(relative), data)


def _search_space(
    code_dir: Path, results: dict[PurePosixPath, Rewritten]
) -> tuple[dict[str, Any], list[Problem]]:
    """All files' parameters; one key defined twice must be the same distribution (NNI's rule)."""
    space: dict[str, Any] = {}
    first: dict[str, tuple[PurePosixPath, Defined]] = {}
    problems: list[Problem] = []
    for relative, result in results.items():
        for defined in result.parameters:
            key, spec = defined.parameter.key, defined.parameter.spec()
            if key in space and space[key] != spec:
                where, earlier = first[key]
                problems.append(
                    Problem(
                        code_dir / relative,
                        defined.line,
                        defined.column,
                        key,
                        f"{key} is already defined differently at {where}:{earlier.line} "
                        f"({_show(space[key])}); give this parameter another name",
                    )
                )
                continue
            space.setdefault(key, spec)
            first.setdefault(key, (relative, defined))
    return space, problems


def _show(spec: dict[str, Any]) -> str:
    return f"{spec['_type']}{tuple(spec['_value'])!r}"


def _helper_clashes(
    code_dir: Path, entries: list[_Entry], results: dict[PurePosixPath, Rewritten]
) -> list[Problem]:
    if not any(r.data is not None for r in results.values()):
        return []
    return [
        Problem(
            code_dir / e.relative,
            0,
            0,
            "",
            f"{HELPER_FILE} is the name of the module nnifc adds for annotations; rename this",
        )
        for e in entries
        if e.relative.name == HELPER_FILE
    ]


def _write(
    code_dir: Path,
    out_dir: Path,
    entries: list[_Entry],
    results: dict[PurePosixPath, Rewritten],
) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for entry in entries:
            _copy(code_dir, out_dir, entry, results.get(entry.relative))
        rewritten = [rel for rel, result in results.items() if result.data is not None]
        for directory in {PurePosixPath(), *(rel.parent for rel in rewritten)}:
            shutil.copyfile(RUNTIME, out_dir / directory / HELPER_FILE)
    except OSError as e:
        raise StorageError(f"cannot write the expanded code to {out_dir}: {e}") from e


def _copy(code_dir: Path, out_dir: Path, entry: _Entry, result: Rewritten | None) -> None:
    source, target = code_dir / entry.relative, out_dir / entry.relative
    if entry.kind == "dir":
        target.mkdir()
    elif entry.kind == "link":
        os.symlink(_link_target(code_dir, out_dir, entry.relative), target)
    elif result is not None and result.data is not None:
        target.write_bytes(result.data)
        shutil.copymode(source, target)
    else:
        shutil.copy2(source, target)


def _link_target(code_dir: Path, out_dir: Path, relative: PurePosixPath) -> str:
    """Where the copied link points: the same file of the copy if inside codeDir, else as before.

    A link is never followed here; one that leaves codeDir keeps pointing at the same place
    (made absolute), so the upload's own checks treat it as they would have.
    """
    link = code_dir / relative
    resolved = Path(os.path.realpath(link))
    root = Path(os.path.realpath(code_dir))
    if not resolved.is_relative_to(root):
        return str(resolved)
    mapped = out_dir / resolved.relative_to(root)
    return os.path.relpath(mapped, (out_dir / relative).parent)
