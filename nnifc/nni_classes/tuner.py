"""NniTuner: an NNI Tuner object (a user's class, or NNI's SMAC, DNGO...) driven by nnifc's loop.

Why stateful, unlike nnifc's own tuners: NNI's learn through calls and keep what they learnt,
where nnifc's read the whole history at each proposal. The adapter turns the history the loop
hands it (at each proposal, and through `observe` as trials end) into those calls, each finished
trial once:
- a trial this object proposed: `receive_trial_result(parameter_id, parameters, value)` with the
  raw metric (nnifc's loss un-oriented with the experiment's optimize_mode), then
  `trial_end(parameter_id, True)`; a FAILED one (loss inf) or one that ended with no result
  (cancelled, NaN): `trial_end(parameter_id, False)` only;
- any other result (a resumed loop's history, `nnifc import`'s points, trials an earlier loop
  started): `import_data([{"parameter": ..., "value": ...}])`, NNI's documented warm start.
The history holds no trial ids: a result is matched to the earliest unfinished proposal with
equal parameters.

Resume: the store keeps no NNI object. A resumed loop builds a fresh one and, as NNI's
dispatcher does on resume, calls its `load_checkpoint()` first; `get_checkpoint_path()` is the
experiment's `checkpoint` directory in every loop (NNI_CHECKPOINT_DIRECTORY), for a class that
saves its own state there. Its first call after `update_search_space` is an import_data of every
finished result the store has, so it learns all its predecessor was told. Without a checkpoint
of its own, what is lost is the object's state beyond those results: its random generator
restarts from its seed (a seeded tuner repeats its first draws; NNI's de-duplication then avoids
the parameters it knows), and whatever it kept about trials still running. The loop's `rng` is
not used: NNI's tuners draw from their own (a `seed` classArg, where the class takes one, makes
a run reproducible as NNI's own is).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from typing import Any, ClassVar, Literal, cast

import numpy as np

from nnifc.errors import NnifcError
from nnifc.nni_classes.formats import nni_space, plain, raw_metric, tell_each
from nnifc.nni_classes.loading import ClassSource, instantiate, offer_checkpoint_dir
from nnifc.records import Params, Result
from nnifc.tuners.base import Tuner


class NniTuner(Tuner):
    """Bound to one class by `tuner_class`; the NNI object is built at the first call, so that
    commands that only read an experiment (stop, logs) never need its code."""

    name = "NNI class"
    default_optimize_mode = None
    source: ClassVar[ClassSource]
    optimize_mode: ClassVar[str] = "maximize"  # the experiment's: how metrics are un-oriented

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._nni: Any = None
        self._told = 0  # history entries seen
        self._outstanding: list[tuple[int, Params]] = []  # proposed, not yet ended
        self._next_id = 0
        self._exhausted = False

    def propose(
        self, history: Sequence[Result], pending: Sequence[Params], rng: np.random.Generator
    ) -> Params | None:
        self.observe(history, pending)
        if self._exhausted:
            return None
        parameter_id = self._next_id
        self._next_id += 1
        no_more = importlib.import_module("nni").NoMoreTrialError
        try:
            proposed = self._nni.generate_parameters(parameter_id)
        except no_more:
            proposed = None
        except Exception as e:
            raise self._failed("generate_parameters", e) from None
        if proposed is None:
            self._exhausted = True
            return None
        params = plain(proposed)
        if not isinstance(params, dict):
            raise NnifcError(
                f"the tuner {self.source.label} proposed {params!r}, not a mapping of parameter"
                " names to values"
            )
        self._outstanding.append((parameter_id, params))
        return params

    def observe(self, history: Sequence[Result], pending: Sequence[Params]) -> None:
        if self._nni is None:
            self._start(first_id=len(history) + len(pending))
        new, self._told = history[self._told :], len(history)
        tell_each(new, self.optimize_mode, self._take, self._ended, self._import)
        self._ended_without_result(pending)

    def _start(self, first_id: int) -> None:
        offer_checkpoint_dir(self.state_dir)
        self._nni = instantiate(self.source)
        if self.resumed:  # as NNI's dispatcher does first when its experiment resumes
            self._call("load_checkpoint")
        self._call("update_search_space", nni_space(self.space))
        self._next_id = first_id

    def _take(self, params: Params) -> tuple[int, Params] | None:
        for i, (parameter_id, proposed) in enumerate(self._outstanding):
            if proposed == params:
                del self._outstanding[i]
                return parameter_id, proposed
        return None

    def _ended(self, mine: tuple[int, Params], loss: float) -> None:
        parameter_id, params = mine
        if math.isfinite(loss):
            value = raw_metric(loss, self.optimize_mode)
            self._call("receive_trial_result", parameter_id, params, value)
        self._call("trial_end", parameter_id, math.isfinite(loss))

    def _ended_without_result(self, pending: Sequence[Params]) -> None:
        """Proposals neither running nor in the history ended with nothing learnt."""
        running = list(pending)
        still: list[tuple[int, Params]] = []
        for parameter_id, params in self._outstanding:
            if params in running:
                running.remove(params)
                still.append((parameter_id, params))
            else:
                self._call("trial_end", parameter_id, False)
        self._outstanding = still

    def _import(self, records: list[dict[str, Any]]) -> None:
        self._call("import_data", records)

    def _call(self, method: str, *args: Any) -> None:
        try:
            getattr(self._nni, method)(*args)
        except Exception as e:
            raise self._failed(method, e) from None

    def _failed(self, method: str, error: Exception) -> NnifcError:
        return NnifcError(
            f"the tuner {self.source.label} raised {type(error).__name__} in {method}: {error}"
        )


def tuner_class(
    source: ClassSource,
    optimize_mode: str,
    default_mode: Literal["maximize", "minimize"] | None,
) -> type[NniTuner]:
    """A Tuner class for this source, as `Experiment.tuner_class` holds it."""
    attributes = {
        "source": source,
        "optimize_mode": optimize_mode,
        "default_optimize_mode": default_mode,
        "name": source.class_name,
    }
    return cast(type[NniTuner], type(f"Nni{source.class_name}", (NniTuner,), attributes))
