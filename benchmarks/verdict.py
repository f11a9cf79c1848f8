"""How every benchmark ends: the targets it missed, one a line, and its exit code (1 when any)."""

from __future__ import annotations

from collections.abc import Sequence


def verdict(missed: Sequence[str]) -> int:
    print()
    print("targets missed:" if missed else "all targets met")
    for line in missed:
        print(f"  - {line}")
    return 1 if missed else 0
