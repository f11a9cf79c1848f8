"""One line of `nnifc doctor`: what was checked, what was found, and how to fix a failure.

Why a record of its own: a platform's checks produce these and the CLI prints them, without
either knowing the other; `create`'s preflight raises the first failure's `found` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Outcome(Enum):
    PASS = "ok"
    FAIL = "FAIL"
    SKIP = "skip"  # not run: a check it needs failed, or it was not asked for


@dataclass(frozen=True)
class Check:
    name: str
    outcome: Outcome
    found: str  # what was seen: a version, the problem
    fix: str = ""

    @property
    def failed(self) -> bool:
        return self.outcome is Outcome.FAIL


def passed(name: str, found: str) -> Check:
    return Check(name, Outcome.PASS, found)


def failed(name: str, found: str, fix: str) -> Check:
    return Check(name, Outcome.FAIL, found, fix)


def skipped(name: str, why: str) -> Check:
    return Check(name, Outcome.SKIP, why)
