"""Population Based Training (Jaderberg et al. 2017) with NNI's PBTTuner classArgs and parameters.

    tuner:
      builtinTunerName: PBTTuner
      classArgs: {optimize_mode: maximize, population_size: 10, fraction: 0.2}

Each trial trains one step: it loads `load_checkpoint_dir` (when a checkpoint is there), trains
and saves into `save_checkpoint_dir` = `<root>/<generation>/<member>`. A generation is
`population_size` trials, one per member; the next starts once all of them have ended (`wait`).
Then, as in NNI, the worst `ceil(fraction * population_size)` members each take a random one of
as many best members' checkpoint and parameters (exploit) and change every parameter (explore):
resampled with `resample_probability`, else one step up or down, the step being `factor` of the
range (of sigma for normal types; one option, integer or q for discrete ones). The others go on
from their own checkpoint with their own parameters. A failed or cancelled trial ranks last.

No state: a trial's generation and member are read back from its save_checkpoint_dir, so the
population is rebuilt from history and pending at every proposal, also after a restart.
The root is `all_checkpoint_dir`, else `<shared dir>/checkpoint`, which every trial can reach
(the experiment's share on FrameworkController). The tuner never touches it (on a cluster it exists
only in pods): the task wrapper creates save_checkpoint_dir before the trial's command runs.

Unlike NNI: the layout names the generation first (stages.py reads it), members are ranked by
(loss, member) instead of finish order, and a nested choice is explored inside its branch.
Generation 0 loads from its own empty save directory, as under NNI.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator

from nnifc import checkpoints
from nnifc.errors import PlatformError
from nnifc.records import Params, Result
from nnifc.space import Branch, Choice, Normal, Parameter, RandInt, SearchSpace, Uniform
from nnifc.stages import LOAD_KEY, SAVE_KEY
from nnifc.tuners.base import Tuner, TunerOptions


class PbtOptions(TunerOptions):
    all_checkpoint_dir: str | None = None
    population_size: int = Field(default=10, ge=1, le=99999)
    factor: float = Field(default=0.2, ge=0, allow_inf_nan=False)
    resample_probability: float = Field(default=0.25, ge=0, le=1)
    fraction: float = Field(default=0.2, ge=0, le=1)

    _absolute = field_validator("all_checkpoint_dir")(checkpoints.checked_root)


@dataclass(frozen=True)
class Generation:
    """The latest generation any trial belongs to, and the one before it."""

    number: int
    finished: Mapping[int, Result]  # member -> its trial's result
    running: frozenset[int]
    parents: Mapping[int, Result]  # the previous generation's results, by member


class PbtTuner(Tuner):
    name = "PBTTuner"
    default_optimize_mode: ClassVar[Literal["maximize", "minimize"] | None] = "maximize"
    Options = PbtOptions
    added_keys: ClassVar[frozenset[str]] = frozenset({LOAD_KEY, SAVE_KEY})
    learns_unfinished: ClassVar[bool] = True  # a member whose trial failed still ends its step
    takes_assessor: ClassVar[bool] = False  # a generation ends when all its trials do

    options: PbtOptions

    def __init__(self, space: SearchSpace, options: PbtOptions) -> None:
        super().__init__(space, options)
        self.size = options.population_size

    @property
    def root(self) -> str:
        found = checkpoints.root(self.options.all_checkpoint_dir, self.shared_dir)
        if found is None:
            raise PlatformError(
                "PBTTuner needs tuner.classArgs.all_checkpoint_dir: this platform's trials "
                "share no directory for checkpoints"
            )
        return found

    def directory(self, generation: int, member: int) -> str:
        return f"{self.root}/{generation}/{member}"

    def position(self, params: Params, root: str) -> tuple[int, int] | None:
        """(generation, member) named by the trial's save_checkpoint_dir, if it is one of ours."""
        path = params.get(SAVE_KEY)
        if not isinstance(path, str):
            return None
        head, _, member = path.rpartition("/")
        parent, _, generation = head.rpartition("/")
        if parent != root or not (_number(generation) and _number(member)):
            return None
        return (int(generation), int(member)) if int(member) < self.size else None

    def generation(self, history: Sequence[Result], pending: Sequence[Params]) -> Generation:
        root = self.root
        running = [found for found in (self.position(p, root) for p in pending) if found]
        latest = max((g for g, _ in running), default=0)
        finished: dict[int, dict[int, Result]] = {}
        # newest first; generations end in order, so older ones than latest - 1 matter no more
        for result in reversed(history):
            found = self.position(result.params, root)
            if found is None:
                continue
            latest = max(latest, found[0])
            if found[0] < latest - 1:
                break
            finished.setdefault(found[0], {}).setdefault(found[1], result)  # a later run wins
        return Generation(
            latest,
            finished.get(latest, {}),
            frozenset(m for g, m in running if g == latest),
            finished.get(latest - 1, {}),
        )

    def wait(self, history: Sequence[Result], pending: Sequence[Params]) -> bool:
        now = self.generation(history, pending)
        return not self._free(now) and len(now.finished) < self.size

    def propose(
        self, history: Sequence[Result], pending: Sequence[Params], rng: np.random.Generator
    ) -> Params:
        now = self.generation(history, pending)
        free = self._free(now)
        if free:
            return self.member(now.number, free[0], now.parents, rng)
        if len(now.finished) < self.size:
            raise RuntimeError("PBTTuner.propose while its generation runs: ask wait() first")
        return self.member(now.number + 1, 0, now.finished, rng)

    def _free(self, now: Generation) -> list[int]:
        return [m for m in range(self.size) if m not in now.finished and m not in now.running]

    def member(
        self, generation: int, member: int, parents: Mapping[int, Result], rng: np.random.Generator
    ) -> dict[str, Any]:
        """The trial of `member` in `generation`, from the previous generation's results."""
        save = self.directory(generation, member)
        ranked = sorted(range(self.size), key=lambda m: (_loss(parents.get(m)), m))
        cutoff = math.ceil(self.options.fraction * self.size)
        tops = [m for m in ranked[:cutoff] if m in parents]
        if tops and member in ranked[self.size - cutoff :]:
            top = parents[tops[int(rng.integers(len(tops)))]]
            params = explore(self.space, top.params, self.options, rng)
            return {**params, LOAD_KEY: top.params[SAVE_KEY], SAVE_KEY: save}
        own = parents.get(member)
        if own is None:  # generation 0, or its trial is gone (a new search space)
            return {**self.space.sample(rng), LOAD_KEY: save, SAVE_KEY: save}
        searched = {k: v for k, v in own.params.items() if k not in self.added_keys}
        return {**searched, LOAD_KEY: own.params[SAVE_KEY], SAVE_KEY: save}


def explore(
    space: SearchSpace, params: Params, options: PbtOptions, rng: np.random.Generator
) -> dict[str, Any]:
    """Every parameter resampled or moved one step, as NNI's exploit_and_explore does."""
    explored: dict[str, Any] = {}
    for name, param in space.items():
        value = params.get(name)
        if name not in params or rng.random() < options.resample_probability:
            explored[name] = _sample(param, rng)
        else:
            explored[name] = _step(param, value, rng.random() > 0.5, options, rng)
    return explored


def _sample(param: Parameter, rng: np.random.Generator) -> Any:
    value = param.sample(rng)
    return {"_name": value.name, **value.space.sample(rng)} if isinstance(value, Branch) else value


def _step(
    param: Parameter, value: Any, up: bool, options: PbtOptions, rng: np.random.Generator
) -> Any:
    sign = 1 if up else -1
    match param:
        case Choice(options=choices) if param.nested:
            names = [b.name for b in choices]
            if not isinstance(value, dict) or value.get("_name") not in names:
                return _sample(param, rng)
            at = names.index(value["_name"])
            branch = choices[min(max(at + sign, 0), len(choices) - 1)]
            if branch.name != value["_name"]:
                return {"_name": branch.name, **branch.space.sample(rng)}
            return {"_name": branch.name, **explore(branch.space, value, options, rng)}
        case Choice(options=choices):
            same = [i for i, o in enumerate(choices) if o == value and type(o) is type(value)]
            if not same:
                return _sample(param, rng)
            return choices[min(max(same[0] + sign, 0), len(choices) - 1)]
        case RandInt(low=low, high=high):
            return min(max(int(value) + sign, low), high - 1)
        case Uniform(low=low, high=high, q=q, log=log):
            if q is not None:
                return param.finish((round(value / q) + sign) * q)
            if log:
                width = (math.log(high) - math.log(low)) * options.factor
                return param.finish(math.exp(math.log(value) + sign * width))
            return param.finish(value + sign * (high - low) * options.factor)
        case Normal(sigma=sigma, q=q, log=log):
            if q is not None:
                moved = value + sign * q
                return float(round(max(moved, 0.0) / q) * q) if log else param.finish(moved)
            if log:
                if value <= 0:
                    return _sample(param, rng)
                return param.finish(math.log(value) + sign * sigma * options.factor)
            return param.finish(value + sign * sigma * options.factor)
    return _sample(param, rng)


def _loss(result: Result | None) -> float:
    if result is None or math.isnan(result.loss):
        return math.inf
    return result.loss


def _number(text: str) -> bool:
    return text.isdecimal() and text.isascii() and len(text) < 10
