"""New trials from the tuner, each recorded (committed) before anything starts it.

A proposal's random stream is the experiment's seed with its sequence number, so the same
history proposes the same trial. `nnifc update --search-space` replaces the tuner here; the new
one keeps the history that fits the new space.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterable

import numpy as np

from nnifc import document, space
from nnifc.experiment import Experiment
from nnifc.knowledge import Knowledge
from nnifc.records import Params, TrialSpec
from nnifc.scheduling.cpu import CpuTime
from nnifc.store import ExperimentRow, Store
from nnifc.tuners import Tuner

ID_ALPHABET = string.ascii_lowercase + string.digits


def new_id(length: int) -> str:
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(length))


class Proposals:
    def __init__(
        self,
        experiment: Experiment,
        store: Store,
        row: ExperimentRow,
        tuner: Tuner,
        knowledge: Knowledge,
        cpu: CpuTime,
    ) -> None:
        self.experiment, self.store, self.tuner = experiment, store, tuner
        self.knowledge, self.cpu = knowledge, cpu
        self.exp_id, self.seed, self.space_text = row.id, row.seed, row.space_text
        self.trial_ids = {t.id for t in store.trials()}
        self.exhausted = False  # the tuner has nothing more to propose

    @property
    def n_trials(self) -> int:
        return len(self.trial_ids)

    def propose(self, running: Iterable[Params]) -> TrialSpec | None:
        """The tuner's next trial, recorded; None once the tuner has nothing more."""
        sequence = self.n_trials
        rng = np.random.default_rng([self.seed, sequence])
        pending = [p for p in running if self.knowledge.fits(p)]
        with self.cpu.timed("tunerSeconds"):
            if pending and self.tuner.wait(self.knowledge.results, pending):
                return None  # not exhausted: asked again once a running trial ends
            params = self.tuner.propose(self.knowledge.results, pending, rng)
        if params is None:
            self.exhausted = True
            return None
        trial_id = new_id(5)
        while trial_id in self.trial_ids:
            trial_id = new_id(5)
        spec = TrialSpec(self.exp_id, trial_id, sequence, sequence, params)
        self.store.add_trial(spec)
        self.trial_ids.add(trial_id)
        return spec

    def observe(self, running: Iterable[Params]) -> None:
        """Trials ended: a stateful tuner learns them now, not at the next proposal (which may
        never come once the budget is spent)."""
        pending = [p for p in running if self.knowledge.fits(p)]
        with self.cpu.timed("tunerSeconds"):
            self.tuner.observe(self.knowledge.results, pending)

    def progress(self, params: Params, step: int, raw: str) -> None:
        with self.cpu.timed("tunerSeconds"):
            self.tuner.progress(params, step, raw)

    def stops(self) -> list[Params]:
        with self.cpu.timed("tunerSeconds"):
            return self.tuner.stops()

    def new_space(self, text: str) -> None:
        """`nnifc update --search-space`: a new tuner; it keeps the history that fits the space."""
        if text == self.space_text:
            return
        source = self.experiment.source.with_suffix(".json")
        new = space.parse(document.parse(source, text))
        old, self.tuner = (
            self.tuner,
            self.experiment.tuner_class(new, self.experiment.tuner_options),
        )
        self.tuner.shared_dir, self.tuner.state_dir = old.shared_dir, old.state_dir
        self.tuner.resumed = True  # it follows the trials the replaced object started
        self.knowledge.keep_fitting(new)
        self.space_text, self.exhausted = text, False
