"""Synchronous successive halving, read again from the trials at each proposal (Hyperband, BOHB).

Bracket s runs rounds i = 0..s: n_i configs at budget r_i, the best n_{i+1} of a finished round
going on. Which trials belong to which bracket is not stored: configs at bracket s's first
budget (not claimed as another bracket's promotions) fill its copies in the order they
finished, n_0 each, so a copy's first round is fixed once its n_0 trials have finished; later
rounds are the promoted configs, found by their parameters at the round's budget. Brackets are
read from the largest s down: a promotion's budget is the first budget of a smaller bracket.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from nnifc.advisors.base import Entry, Ledger, Schedule, config_of, ranked, with_budget


@dataclass(frozen=True)
class Plan:
    """What the brackets ask for: a promotion owed, a first round to fill, the next to open."""

    owed: dict[str, Any] | None  # a promoted config not yet started, with its budget
    fill: int | None  # the budget of a first round that needs another new config
    next_budget: int  # the first budget of the bracket to open next
    unfinished: bool  # an opened bracket has not reached its last round (serial mode waits)


def plan(schedule: Schedule, ledger: Ledger) -> Plan:
    owed: dict[str, Any] | None = None
    fill: int | None = None
    unfinished = False
    opened = 0
    for s in schedule.order:
        rounds = schedule.rounds(s)
        n0, r0 = rounds[0]
        first = ledger.at(r0)
        for e in first:
            ledger.claimed.add(e.order)
        finished = [e for e in first if e.loss is not None]
        copies = math.ceil(len(first) / n0)
        opened += copies
        if len(first) % n0:
            fill = r0 if fill is None else fill
            unfinished = unfinished or s > 0
        for copy in range(len(finished) // n0):
            settled = ledger.finished.settled.get((s, copy))
            if settled is not None:
                ledger.claimed.update(settled)
                continue
            members = finished[copy * n0 : (copy + 1) * n0]
            promotion, last, claimed = _follow(rounds, members, ledger)
            owed = owed or promotion
            unfinished = unfinished or not last
            if claimed is not None:
                ledger.finished.settled[s, copy] = claimed
        if len(finished) // n0 < copies and s > 0:
            unfinished = True
    cycle = schedule.order
    return Plan(owed, fill, schedule.rounds(cycle[opened % len(cycle)])[0][1], unfinished)


def _follow(
    rounds: list[tuple[int, int]], members: list[Entry], ledger: Ledger
) -> tuple[dict[str, Any] | None, bool, list[int] | None]:
    """The first promotion owed in one copy of a bracket, whether its last round is set, and
    the trials it claimed once every round has finished (None before)."""
    owed: dict[str, Any] | None = None
    current = members
    claimed: list[int] = []
    for n, r in rounds[1:]:
        done: list[Entry] = []
        for e in ranked(current)[:n]:
            found = ledger.claim(e.key, r)
            if found is None:
                owed = owed or with_budget(config_of(e.params), r)
            elif found.loss is not None:
                done.append(found)
                claimed.append(found.order)
        if len(done) < n:
            return owed, r == rounds[-1][1], None
        current = done
    return owed, True, claimed
