"""Advisors in the loop: a serial Hyperband leaves slots empty until a round ends, a config whose
trial gave nothing is not run again, a new search space keeps their history, and `status` shows
each trial's budget and rung (issue 19)."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import pytest
from rich.console import Console

from nnifc import config, experiments
from nnifc.document import Document
from nnifc.errors import ConfigError
from nnifc.knowledge import Knowledge
from nnifc.records import (
    ExperimentStatus,
    MetricReported,
    Result,
    StatusChanged,
    TrialEvent,
    TrialSpec,
    TrialStatus,
)
from nnifc.scheduler import Scheduler
from nnifc.space import parse
from nnifc.stages import BUDGET_KEY
from nnifc.store import Store
from nnifc.summary import experiment_json
from nnifc.trials_view import TrialsTable
from tests.conftest import checked_status
from tests.fakes import FakePlatform, Script


def advisor_experiment(
    tmp_path: Path, class_args: str, *, trials: int, concurrency: int
) -> config.Experiment:
    (tmp_path / "code").mkdir(exist_ok=True)
    (tmp_path / "space.json").write_text('{"x": {"_type": "uniform", "_value": [0, 1]}}')
    path = tmp_path / "exp.yml"
    path.write_text(
        textwrap.dedent(f"""\
        experimentName: advised
        trialConcurrency: {concurrency}
        maxTrialNum: {trials}
        trainingServicePlatform: local
        searchSpacePath: space.json
        advisor: {{builtinAdvisorName: Hyperband, classArgs: {{{class_args}}}}}
        trial: {{command: "true", codeDir: code}}
        """)
    )
    return config.load(path)


def ends_with(value: float, spec: TrialSpec) -> list[list[TrialEvent]]:
    metric = MetricReported(spec.trial_id, "local_0", 0, True, value, json.dumps(value))
    ended = StatusChanged(spec.trial_id, TrialStatus.SUCCEEDED, exit_code=0)
    return [[StatusChanged(spec.trial_id, TrialStatus.RUNNING)], [], [metric, ended]]


def scored(spec: TrialSpec) -> list[list[TrialEvent]]:
    return ends_with(float(spec.params["x"]) * spec.params[BUDGET_KEY], spec)


class Watching(FakePlatform):
    """Records, at each submit, which trials were still running."""

    def __init__(self, experiment: config.Experiment, home: Path, script: Script) -> None:
        super().__init__(experiment, home, script)
        self.live_at_submit: list[set[str]] = []

    def submit(self, spec: TrialSpec) -> str:
        self.live_at_submit.append(set(self._queues))
        return super().submit(spec)


def run(
    experiment: config.Experiment, script: Script, home: Path
) -> tuple[Store, Watching, ExperimentStatus]:
    store = experiments.register(experiment)
    platform = Watching(experiment, home, script)
    return store, platform, Scheduler(experiment, store, platform).run()


def test_serial_hyperband_waits_for_the_bracket_to_end(tmp_path: Path, home: Path) -> None:
    experiment = advisor_experiment(
        tmp_path,
        "optimize_mode: maximize, R: 9, eta: 3, exec_mode: serial",
        trials=20,
        concurrency=8,
    )
    store, platform, status = run(experiment, scored, home)
    assert status is ExperimentStatus.DONE
    budgets = [spec.params[BUDGET_KEY] for spec in platform.submitted]
    # bracket s=2 of R=9, eta=3: 9 configs at budget 1, the best 3 at 3, the best 1 at 9
    assert budgets[:13] == [1] * 9 + [3] * 3 + [9]
    # NNI's serial mode opens no bracket while the open one has a round to finish: the slots
    # freed by the first round's trials stay empty until its last trial ends
    first_round = {spec.trial_id for spec in platform.submitted[:9]}
    assert not first_round & platform.live_at_submit[9]
    assert platform.max_live == 8
    assert len(store.trials()) == 20


def test_a_config_whose_trial_gave_nothing_is_not_run_again(tmp_path: Path, home: Path) -> None:
    experiment = advisor_experiment(
        tmp_path, "optimize_mode: maximize, R: 9, eta: 3", trials=13, concurrency=2
    )

    def nan_first(spec: TrialSpec) -> list[list[TrialEvent]]:
        return ends_with(math.nan, spec) if spec.sequence == 0 else scored(spec)

    store, platform, status = run(experiment, nan_first, home)
    assert status is ExperimentStatus.DONE
    seen = [tuple(sorted(spec.params.items())) for spec in platform.submitted]
    assert len(seen) == len(set(seen)) == 13  # no config at the same budget twice
    first = store.trials()[0]
    assert first.told == "failure" and "NaN" in first.message


def test_a_new_search_space_keeps_the_results_with_budgets() -> None:
    knowledge = Knowledge(
        "maximize", "maximize", include_intermediate=False, added_keys=frozenset({BUDGET_KEY})
    )
    knowledge.results = [Result({"x": 0.5, BUDGET_KEY: 3}, -1.0)]
    data = {"x": {"_type": "uniform", "_value": [0, 1]}}
    knowledge.keep_fitting(parse(Document(Path("space.json"), "", data, None)))
    assert knowledge.results == [Result({"x": 0.5, BUDGET_KEY: 3}, -1.0)]
    assert knowledge.fits({"x": 0.2, BUDGET_KEY: 9})


def test_status_shows_each_trials_budget_and_rung(tmp_path: Path, home: Path) -> None:
    experiment = advisor_experiment(
        tmp_path, "optimize_mode: maximize, R: 9, eta: 3", trials=13, concurrency=1
    )
    store, _, _ = run(experiment, scored, home)
    trials = store.trials()
    doc = checked_status(experiment_json(store.experiment(), "DONE", trials))
    rungs = {t["budget"]: t["rung"] for t in doc["trials"]}
    assert rungs == {1: 0, 3: 1, 9: 2}
    for width in (80, 200):
        console = Console(width=width, record=True, color_system=None)
        console.print(TrialsTable(trials))
        text = console.export_text()
        assert "budget" in text.splitlines()[0]
        assert "9 (rung 2)" in text and "1 (rung 0)" in text


def test_nni_v2s_advisor_block_means_the_same(tmp_path: Path) -> None:
    path = tmp_path / "v2.yml"
    text = textwrap.dedent("""\
        searchSpace: {x: {_type: uniform, _value: [0, 1]}}
        trialCommand: python3 trial.py
        trialCodeDirectory: .
        trialConcurrency: 2
        advisor:
          name: Hyperband
          classArgs: {optimize_mode: maximize, R: 9, eta: 3}
        trainingService: {platform: local}
        """)
    path.write_text(text)
    assert config.load(path).tuner_class.name == "Hyperband"
    path.write_text(text.replace("name: Hyperband", "name: Hyperbnd"))
    with pytest.raises(ConfigError, match=r"v2\.yml:6:3: advisor\.name: unknown advisor"):
        config.load(path)
