"""NniAssessor: an NNI Assessor object (a user's class) driven by nnifc's loop.

Why the trial id: NNI's assessors keep state per trial (`assess_trial(trial_job_id, history)`,
then `trial_end(trial_job_id, success)`), so the loop calls nnifc's `assess_trial` hook, which
nnifc's own assessors answer from the curve alone. Curves reach NNI's object as the trial
reported them (un-oriented with the assessor's optimize_mode), and `trial_end` only for trials it
assessed, as NNI's dispatcher does.

Resume: a resumed loop builds a fresh object, calls its `load_checkpoint()` as NNI's dispatcher
does on resume (`get_checkpoint_path()` is the experiment's `checkpoint` directory), then tells
it each SUCCEEDED trial's curve as NNI told it while those trials ran (`assess_trial` with the
whole curve, then `trial_end(id, True)`, under an id of the form `replayed-N`), so a median stop
compares with the same completed curves as before. The running trials' curves are whole again at their next
intermediate result; a trial that failed or was stopped before the resume is not replayed (NNI's
assessors drop those).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any, ClassVar, cast

from nnifc.assessors.base import Assessor, Verdict
from nnifc.errors import NnifcError
from nnifc.nni_classes.formats import raw_metric
from nnifc.nni_classes.loading import ClassSource, instantiate, offer_checkpoint_dir


class NniAssessor(Assessor):
    name = "NNI class"
    default_optimize_mode = None
    source: ClassVar[ClassSource]
    optimize_mode: ClassVar[str] = "maximize"  # the assessor's: how curves are un-oriented

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._nni: Any = None
        self._assessed: set[str] = set()

    def assess(self, curve: Sequence[float], finished: Sequence[Sequence[float]]) -> Verdict:
        raise TypeError("an NNI assessor judges a trial known by its id: call assess_trial")

    def assess_trial(
        self, trial_id: str, curve: Sequence[float], finished: Sequence[Sequence[float]]
    ) -> Verdict:
        if self._nni is None:
            self._start(finished)
        history = [raw_metric(x, self.optimize_mode) for x in curve]
        result = self._call("assess_trial", trial_id, history)
        self._assessed.add(trial_id)
        bad = importlib.import_module("nni.assessor").AssessResult.Bad
        return Verdict.STOP if result is bad or result is False else Verdict.CONTINUE

    def trial_end(self, trial_id: str, success: bool) -> None:
        if trial_id in self._assessed:
            self._assessed.discard(trial_id)
            self._call("trial_end", trial_id, success)

    def _start(self, finished: Sequence[Sequence[float]]) -> None:
        """Build the object (loading its checkpoint on resume, as NNI's dispatcher does) and
        tell it the curves of the trials that succeeded before it."""
        offer_checkpoint_dir(self.state_dir)
        self._nni = instantiate(self.source)
        if self.resumed:
            self._call("load_checkpoint")
        for i, curve in enumerate(c for c in finished if c):
            replayed = f"replayed-{i}"
            self._call("assess_trial", replayed, [raw_metric(x, self.optimize_mode) for x in curve])
            self._call("trial_end", replayed, True)

    def _call(self, method: str, *args: Any) -> Any:
        if self._nni is None:
            self._nni = instantiate(self.source)
        try:
            return getattr(self._nni, method)(*args)
        except Exception as e:
            raise NnifcError(
                f"the assessor {self.source.label} raised {type(e).__name__} in {method}: {e}"
            ) from None


def assessor_class(source: ClassSource, optimize_mode: str) -> type[NniAssessor]:
    """An Assessor class for this source, as `Experiment.assessor_class` holds it."""
    attributes = {"source": source, "optimize_mode": optimize_mode, "name": source.class_name}
    return cast(type[NniAssessor], type(f"Nni{source.class_name}", (NniAssessor,), attributes))
