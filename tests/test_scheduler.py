"""The trial loop against a scripted platform and a real store."""

from __future__ import annotations

import json
import sqlite3
import textwrap
import time
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path

import pytest

from nnifc import config, experiments
from nnifc.errors import ConfigError, PlatformError
from nnifc.records import (
    ExperimentStatus,
    MetricReported,
    StatusChanged,
    TrialEvent,
    TrialSpec,
    TrialStatus,
)
from nnifc.scheduler import Scheduler
from nnifc.store import Store, experiment_dir
from tests.fakes import FakePlatform, Script


def rewrite(store: Store, column: str, value: object) -> None:
    """Change what no command changes (the start time, the seed), from another connection."""
    path = experiment_dir(store.experiment().id) / "nnifc.db"
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(f"UPDATE experiment SET {column} = ?", (value,))


def make_experiment(
    tmp_path: Path, *, trials: int = 6, concurrency: int = 2, assessor: str = "", extra: str = ""
) -> config.Experiment:
    (tmp_path / "code").mkdir(exist_ok=True)
    (tmp_path / "space.json").write_text('{"x": {"_type": "uniform", "_value": [0, 1]}}')
    path = tmp_path / "exp.yml"
    path.write_text(
        textwrap.dedent(f"""\
        experimentName: unit
        trialConcurrency: {concurrency}
        maxTrialNum: {trials}
        trainingServicePlatform: local
        searchSpacePath: space.json
        tuner: {{builtinTunerName: Random, classArgs: {{optimize_mode: maximize, seed: 11}}}}
        trial: {{command: "true", codeDir: code}}
        """)
        + assessor
        + extra
    )
    return config.load(path)


def metric(spec: TrialSpec, offset: int, value: float, *, final: bool = False) -> MetricReported:
    return MetricReported(spec.trial_id, "local_0", offset, final, value, repr(value))


def succeeding(spec: TrialSpec) -> list[list[TrialEvent]]:
    value = float(spec.params["x"])
    return [
        [StatusChanged(spec.trial_id, TrialStatus.RUNNING)],
        [metric(spec, 0, value)],
        [
            metric(spec, 10, value, final=True),
            StatusChanged(spec.trial_id, TrialStatus.SUCCEEDED, exit_code=0),
        ],
    ]


def run(
    experiment: config.Experiment, script: Script, home: Path
) -> tuple[Store, FakePlatform, ExperimentStatus]:
    store = experiments.register(experiment)
    platform = FakePlatform(experiment, home, script)
    status = Scheduler(experiment, store, platform).run()
    return store, platform, status


def test_concurrency_and_trial_budget(tmp_path: Path, home: Path) -> None:
    store, platform, status = run(
        make_experiment(tmp_path, trials=5, concurrency=2), succeeding, home
    )
    assert status is ExperimentStatus.DONE
    assert len(platform.submitted) == 5 and platform.max_live == 2
    trials = store.trials()
    assert [t.status for t in trials] == [TrialStatus.SUCCEEDED] * 5
    assert all(t.final == t.params["x"] and t.intermediate == (t.params["x"],) for t in trials)
    assert len({t.id for t in trials}) == 5 and all(
        len(t.id) == 5 and t.id.isalnum() for t in trials
    )


def test_assessor_stops_a_bad_trial_early(tmp_path: Path, home: Path) -> None:
    assessor = "assessor: {builtinAssessorName: Medianstop, classArgs: {optimize_mode: maximize, start_step: 1}}\n"
    experiment = make_experiment(tmp_path, trials=4, concurrency=1, assessor=assessor)

    def script(spec: TrialSpec) -> list[list[TrialEvent]]:
        good = spec.sequence < 3
        value = 0.9 if good else 0.1
        events: list[list[TrialEvent]] = [[StatusChanged(spec.trial_id, TrialStatus.RUNNING)]]
        events += [[metric(spec, step, value)] for step in range(3)]
        events += [
            [
                metric(spec, 99, value, final=True),
                StatusChanged(spec.trial_id, TrialStatus.SUCCEEDED),
            ]
        ]
        return events

    store, platform, status = run(experiment, script, home)
    trials = store.trials()
    assert [t.status for t in trials] == [TrialStatus.SUCCEEDED] * 3 + [TrialStatus.EARLY_STOPPED]
    assert platform.cancelled == [trials[3].id]
    assert trials[3].intermediate == (0.1,) and trials[3].final is None
    assert status is ExperimentStatus.DONE


def test_final_metric_in_the_same_batch_is_not_assessed(tmp_path: Path, home: Path) -> None:
    assessor = "assessor: {builtinAssessorName: Medianstop, classArgs: {optimize_mode: maximize, start_step: 1}}\n"
    experiment = make_experiment(tmp_path, trials=2, concurrency=1, assessor=assessor)

    def script(spec: TrialSpec) -> list[list[TrialEvent]]:
        value = 0.9 if spec.sequence == 0 else 0.1
        done = StatusChanged(spec.trial_id, TrialStatus.SUCCEEDED)
        return [[metric(spec, 0, value), metric(spec, 5, value, final=True), done]]

    store, platform, _ = run(experiment, script, home)
    assert [t.status for t in store.trials()] == [TrialStatus.SUCCEEDED] * 2
    assert platform.cancelled == []


def test_duplicate_metric_lines_are_counted_once(tmp_path: Path, home: Path) -> None:
    def script(spec: TrialSpec) -> list[list[TrialEvent]]:
        again = metric(spec, 0, 0.5)
        return [
            [again],
            [again, metric(spec, 7, 0.6)],
            [StatusChanged(spec.trial_id, TrialStatus.SUCCEEDED)],
        ]

    store, _, _ = run(make_experiment(tmp_path, trials=1), script, home)
    assert store.trials()[0].intermediate == (0.5, 0.6)


def test_stop_request_cancels_live_trials(tmp_path: Path, home: Path) -> None:
    experiment = make_experiment(tmp_path, trials=10, concurrency=3)
    store = experiments.register(experiment)

    def never_ending(spec: TrialSpec) -> list[list[TrialEvent]]:
        running: list[TrialEvent] = [StatusChanged(spec.trial_id, TrialStatus.RUNNING)]
        return [running] + [[] for _ in range(10_000)]

    platform = FakePlatform(experiment, home, never_ending)
    scheduler = Scheduler(experiment, store, platform, on_change=store.request_stop)
    assert scheduler.run() is ExperimentStatus.STOPPED
    assert [t.status for t in store.trials()] == [TrialStatus.USER_CANCELED] * 3
    assert sorted(platform.cancelled) == sorted(t.id for t in store.trials())


def test_exec_duration_budget_stops_submitting(tmp_path: Path, home: Path) -> None:
    experiment = make_experiment(tmp_path, extra="maxExecDuration: 1s\n")
    store = experiments.register(experiment)
    rewrite(store, "started", time.time() - 5)
    status = Scheduler(experiment, store, FakePlatform(experiment, home, succeeding)).run()
    assert status is ExperimentStatus.DONE and store.trials() == []


def test_restarted_loop_proposes_what_an_uninterrupted_one_would(
    tmp_path: Path, home: Path
) -> None:
    experiment = make_experiment(tmp_path, trials=6, concurrency=1)
    uninterrupted, _, _ = run(experiment, succeeding, home)
    store = experiments.register(experiment)
    rewrite(store, "seed", uninterrupted.experiment().seed)
    # three trials, then a fresh scheduler continues from the store alone
    _run_n(Scheduler(experiment, store, FakePlatform(experiment, home, succeeding)), 3)
    resumed = Scheduler(experiment, store, FakePlatform(experiment, home, succeeding))
    assert resumed.n_trials == 3 and len(resumed.knowledge.results) == 3
    resumed.run()
    assert [t.params for t in store.trials()] == [t.params for t in uninterrupted.trials()]


def _run_n(scheduler: Scheduler, n: int) -> None:
    scheduler.platform.prepare()
    while scheduler.n_trials < n or scheduler.live:
        if scheduler.n_trials < n and not scheduler.live:
            scheduler._fill(1)
        for event in scheduler.platform.poll(0):
            scheduler.trials.handle(event, assess=True)


def test_failed_configurations_are_not_run_again(tmp_path: Path, home: Path) -> None:
    configs = [{"lr": 0.1}, {"lr": 0.2}, {"lr": 0.3}]
    (tmp_path / "code").mkdir()
    (tmp_path / "space.json").write_text(
        json.dumps({"combine_params": {"_type": "choice", "_value": configs}})
    )
    path = tmp_path / "exp.yml"
    path.write_text(
        "experimentName: batch\ntrialConcurrency: 1\nmaxTrialNum: 10\ntrainingServicePlatform: local\n"
        "searchSpacePath: space.json\ntuner: {builtinTunerName: BatchTuner}\n"
        'trial: {command: "true", codeDir: code}\n'
    )

    def second_fails(spec: TrialSpec) -> list[list[TrialEvent]]:
        if spec.params == {"lr": 0.2}:
            return [[StatusChanged(spec.trial_id, TrialStatus.FAILED, "exit code 1", 1)]]
        return succeeding_with(spec, 1.0)

    store, _, status = run(config.load(path), second_fails, home)
    assert status is ExperimentStatus.DONE
    assert [t.params for t in store.trials()] == configs
    assert [t.status for t in store.trials()] == [
        TrialStatus.SUCCEEDED,
        TrialStatus.FAILED,
        TrialStatus.SUCCEEDED,
    ]


def succeeding_with(spec: TrialSpec, value: float) -> list[list[TrialEvent]]:
    return [
        [metric(spec, 0, value, final=True), StatusChanged(spec.trial_id, TrialStatus.SUCCEEDED)]
    ]


def test_a_space_the_tuner_cannot_use_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "space.json").write_text('{"x": {"_type": "uniform", "_value": [0, 1]}}')
    path = tmp_path / "exp.yml"
    path.write_text(
        "experimentName: batch\ntrialConcurrency: 1\ntrainingServicePlatform: local\n"
        "searchSpacePath: space.json\ntuner: {builtinTunerName: BatchTuner}\n"
        'trial: {command: "true", codeDir: code}\n'
    )
    with pytest.raises(ConfigError) as error:
        config.load(path)
    assert str(error.value).startswith(
        f"{path}:5:9: tuner.builtinTunerName: BatchTuner needs a search space"
    )


@pytest.mark.parametrize(
    "name", ["quickstart.yml", "frameworkcontroller-nfs.yml", "frameworkcontroller-azure.yml"]
)
def test_shipped_configs_are_valid(name: str) -> None:
    experiment = config.load(Path(__file__).parents[1] / "configs" / name)
    assert experiment.warnings == ()


class StartsRecorded(FakePlatform):
    """Checks each trial is recorded before its start, and fails the starts `fails` picks."""

    def __init__(self, experiment: config.Experiment, home: Path, fails: set[int]) -> None:
        super().__init__(experiment, home, succeeding)
        self.fails = fails
        self.batches: list[int] = []
        self.store: Store | None = None

    def start(self, specs: Sequence[TrialSpec]) -> None:
        self.batches.append(len(specs))
        assert self.store is not None  # every proposal is recorded before its start
        recorded = {t.id for t in Store.open(self.store.experiment().id).trials()}
        assert {s.trial_id for s in specs} <= recorded
        super().start(specs)

    def submit(self, spec: TrialSpec) -> str:
        if spec.sequence in self.fails:
            raise PlatformError(f"create refused for trial #{spec.sequence}")
        return super().submit(spec)


def test_each_trial_starts_once_recorded_and_failed_starts_are_recorded(
    tmp_path: Path, home: Path
) -> None:
    experiment = make_experiment(tmp_path, trials=6, concurrency=4)
    store = experiments.register(experiment)
    platform = StartsRecorded(experiment, home, fails={1})
    platform.store = store
    status = Scheduler(experiment, store, platform).run()
    assert status is ExperimentStatus.DONE
    assert platform.batches == [1] * 6  # started one by one, each before the next proposal
    trials = {t.sequence: t for t in store.trials()}
    assert trials[1].status is TrialStatus.FAILED
    assert "create refused for trial #1" in trials[1].message
    assert [trials[i].status for i in (0, 2, 3, 4, 5)] == [TrialStatus.SUCCEEDED] * 5
    assert all(trials[i].handle == f"handle-{trials[i].id}" for i in (0, 2, 3, 4, 5))


def test_three_failed_starts_in_a_row_stop_the_experiment_and_keep_the_started_ones(
    tmp_path: Path, home: Path
) -> None:
    experiment = make_experiment(tmp_path, trials=8, concurrency=4)
    store = experiments.register(experiment)
    platform = StartsRecorded(experiment, home, fails={1, 2, 3})
    platform.store = store
    with pytest.raises(PlatformError, match="trial #3"):
        Scheduler(experiment, store, platform).run()
    trials = {t.sequence: t for t in store.trials()}
    assert [trials[i].status for i in (1, 2, 3)] == [TrialStatus.FAILED] * 3
    assert trials[0].handle == f"handle-{trials[0].id}"  # started before the refusals: recorded
