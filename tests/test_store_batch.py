"""Store batches: one transaction for many writes, and the loop that uses them loses nothing.

Another connection stands for `nnifc status`/`stop`/`import` in another process: it must see
nothing of a batch until it commits, everything once it has, and be free to write whenever the
loop waits or acts on the platform.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from nnifc import experiments
from nnifc.assessors import Assessor, AssessorOptions, Verdict
from nnifc.records import (
    ExperimentStatus,
    MetricReported,
    StatusChanged,
    TrialEvent,
    TrialSpec,
    TrialStatus,
)
from nnifc.scheduler import STOP_CHECK_SECONDS, Scheduler
from nnifc.store import ExperimentRow, Store, experiment_dir, experiment_ids
from tests.fakes import FakePlatform, Script
from tests.test_scheduler import make_experiment, metric


def new_store(tmp_path: Path) -> tuple[Store, Path]:
    path = tmp_path / "nnifc.db"
    store = Store(path, create=True)
    store.add_experiment(
        ExperimentRow(
            "exp1",
            "n",
            "local",
            "c.yml",
            "config",
            "{}",
            1,
            "maximize",
            10,
            60,
            ExperimentStatus.RUNNING,
            time.time(),
            None,
            None,
            False,
            "",
        )
    )
    return store, path


def other(path: Path) -> sqlite3.Connection:
    """Another process's connection; it never waits for a lock."""
    return sqlite3.connect(path, timeout=0, isolation_level=None)


def trial_ids(path: Path) -> list[str]:
    return [r[0] for r in other(path).execute("SELECT id FROM trial ORDER BY sequence")]


def can_write(path: Path) -> bool:
    db = other(path)
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:  # database is locked
        return False
    db.execute("ROLLBACK")
    return True


def spec(n: int) -> TrialSpec:
    return TrialSpec("exp1", f"t{n}", n, n, {"x": n})


def test_a_batch_is_invisible_until_it_ends_and_then_all_there(tmp_path: Path) -> None:
    store, path = new_store(tmp_path)
    with store.batch():
        store.add_trial(spec(0))
        store.set_status("t0", TrialStatus.RUNNING)
        store.add_trial(spec(1))
        assert [t.id for t in store.trials()] == ["t0", "t1"]  # its own writes, seen
        assert trial_ids(path) == [] and not can_write(path)
    assert trial_ids(path) == ["t0", "t1"] and can_write(path)
    assert store.trial("t0").status is TrialStatus.RUNNING


def test_an_exception_rolls_the_batch_back(tmp_path: Path) -> None:
    store, path = new_store(tmp_path)
    store.add_trial(spec(0))
    with pytest.raises(RuntimeError), store.batch():
        store.set_status("t0", TrialStatus.RUNNING)
        store.add_trial(spec(1))
        raise RuntimeError("boom")
    assert trial_ids(path) == ["t0"] and can_write(path)
    assert store.trial("t0").status is TrialStatus.WAITING
    store.add_trial(spec(1))  # the store goes on, one transaction per write again
    assert trial_ids(path) == ["t0", "t1"]


def test_a_nested_batch_commits_nothing_itself(tmp_path: Path) -> None:
    store, path = new_store(tmp_path)
    with store.batch():
        store.add_trial(spec(0))
        with store.batch():
            store.add_trial(spec(1))
        assert trial_ids(path) == []
        store.add_trial(spec(2))
    assert trial_ids(path) == ["t0", "t1", "t2"]


def test_commit_makes_the_batch_so_far_durable_and_frees_the_lock(tmp_path: Path) -> None:
    store, path = new_store(tmp_path)
    store.commit()  # outside a batch: nothing to do
    with pytest.raises(RuntimeError), store.batch():
        store.add_trial(spec(0))
        store.commit()
        assert trial_ids(path) == ["t0"] and can_write(path)  # e.g. while the platform cancels
        store.add_trial(spec(1))
        assert trial_ids(path) == ["t0"] and not can_write(path)
        raise RuntimeError("boom")
    assert trial_ids(path) == ["t0"]


def test_a_failed_write_in_a_batch_keeps_no_half_of_it(tmp_path: Path) -> None:
    store, path = new_store(tmp_path)
    with store.batch():
        store.add_trial(spec(0))
        with pytest.raises(sqlite3.IntegrityError):
            store.add_trial(spec(0))
        assert can_write(path)  # rolled back: the lock is free, t0 is gone
        store.add_trial(spec(1))
    assert trial_ids(path) == ["t1"]


def test_cheap_reads_see_another_connection_s_writes(tmp_path: Path) -> None:
    store, path = new_store(tmp_path)
    assert store.stop_requested() is False and store.status() is ExperimentStatus.RUNNING
    other = Store(path)
    with other.batch():
        other.request_stop()
        other.set_experiment_status(ExperimentStatus.NO_MORE_TRIAL, reason="budget spent")
    assert store.stop_requested() is True and store.status() is ExperimentStatus.NO_MORE_TRIAL


def test_set_status_moves_only_live_trials_and_orders_finishes(tmp_path: Path) -> None:
    store, _ = new_store(tmp_path)
    for n in range(3):
        store.add_trial(spec(n))
    assert store.set_status("nope", TrialStatus.RUNNING) is False
    assert store.set_status("t0", TrialStatus.RUNNING) is True
    assert store.set_status("t0", TrialStatus.RUNNING) is False  # nothing new
    assert store.set_status("t0", TrialStatus.RUNNING, message="on node 3") is True
    assert store.trial("t0").message == "on node 3"
    assert store.set_status("t1", TrialStatus.FAILED, message="exit 1", exit_code=1) is True
    assert store.set_status("t0", TrialStatus.SUCCEEDED, exit_code=0) is True
    for status in (TrialStatus.RUNNING, TrialStatus.FAILED, TrialStatus.USER_CANCELED):
        assert store.set_status("t1", status, message="late") is False
    t0, t1, t2 = (store.trial(f"t{n}") for n in range(3))
    assert (t1.status, t1.message, t1.exit_code) == (TrialStatus.FAILED, "exit 1", 1)
    assert t0.status is TrialStatus.SUCCEEDED and t0.started and t0.ended and t0.exit_code == 0
    assert t2.status is TrialStatus.WAITING
    assert [t.id for t in store.finished_in_order()] == ["t1", "t0"]


def test_add_metric_steps_and_duplicates(tmp_path: Path) -> None:
    store, _ = new_store(tmp_path)
    store.add_trial(spec(0))

    def m(task: str, offset: int, value: float, final: bool = False) -> MetricReported:
        return MetricReported("t0", task, offset, final, value, repr(value))

    assert store.add_metric(m("a", 0, 1.0)) == 0
    assert store.add_metric(m("a", 0, 1.0)) is None  # the same line read again
    assert store.add_metric(m("b", 0, 9.0), counted=False) is None
    with store.batch():
        assert store.add_metric(m("a", 5, 2.0)) == 1
        assert store.add_metric(m("a", 9, 3.0, final=True)) == -1
        assert store.add_metric(m("b", 9, 4.0, final=True)) == -1  # kept; the first one counts
    assert store.add_metric(m("a", 5, 2.0)) is None
    trial = store.trial("t0")
    assert trial.intermediate == (1.0, 2.0) and trial.final == 3.0


class Scripted(Assessor):
    """Stops every trial, or raises: an assessor the test controls."""

    name = "Scripted"

    def __init__(self, verdict: Verdict | None) -> None:
        super().__init__(AssessorOptions())
        self.verdict = verdict

    def assess(self, curve: Sequence[float], finished: Sequence[Sequence[float]]) -> Verdict:
        if self.verdict is None:
            raise RuntimeError("the assessor broke")
        return self.verdict


class Watched(FakePlatform):
    """Checks, from another connection, what the store holds whenever the platform acts."""

    path: Path
    seen: list[str]

    def submit(self, spec: TrialSpec) -> str:
        assert spec.trial_id in trial_ids(self.path) and can_write(self.path)
        return super().submit(spec)

    def poll(self, timeout: float) -> list[TrialEvent]:
        assert can_write(self.path)  # no transaction is open while the loop waits
        return super().poll(timeout)

    def cancel(self, trial_id: str, handle: str) -> None:
        assert can_write(self.path)
        row = other(self.path).execute(
            "SELECT status, (SELECT COUNT(*) FROM metric WHERE trial_id = id) FROM trial"
            " WHERE id = ?",
            (trial_id,),
        )
        self.seen.append(":".join(map(str, row.fetchone())))
        super().cancel(trial_id, handle)


def watched(
    tmp_path: Path, home: Path, script: Script, *, trials: int = 2
) -> tuple[Store, Watched]:
    experiment = make_experiment(tmp_path, trials=trials, concurrency=2)
    store = experiments.register(experiment)
    platform = Watched(experiment, home, script)
    platform.path, platform.seen = experiment_dir(store.experiment().id) / "nnifc.db", []
    return store, platform


def running_then_metric(spec: TrialSpec) -> list[list[TrialEvent]]:
    return [[StatusChanged(spec.trial_id, TrialStatus.RUNNING)], [metric(spec, 0, 0.5)]]


def test_an_early_stop_is_committed_before_the_cancel(tmp_path: Path, home: Path) -> None:
    store, platform = watched(tmp_path, home, running_then_metric)
    scheduler = Scheduler(platform.experiment, store, platform)
    scheduler.assessor = Scripted(Verdict.STOP)
    assert scheduler.run() is ExperimentStatus.DONE
    # both trials' metrics came in one poll: each cancel saw its own trial stopped, in the store
    assert platform.seen == ["EARLY_STOPPED:1", "EARLY_STOPPED:1"]
    assert [t.status for t in store.trials()] == [TrialStatus.EARLY_STOPPED] * 2


def test_an_error_mid_poll_keeps_the_events_before_it(tmp_path: Path, home: Path) -> None:
    def script(spec: TrialSpec) -> list[list[TrialEvent]]:
        if spec.sequence == 0:
            done = StatusChanged(spec.trial_id, TrialStatus.SUCCEEDED, exit_code=0)
            return [
                [StatusChanged(spec.trial_id, TrialStatus.RUNNING)],
                [metric(spec, 9, 0.7, final=True), done],
            ]
        return running_then_metric(spec)

    store, platform = watched(tmp_path, home, script)
    scheduler = Scheduler(platform.experiment, store, platform)
    scheduler.assessor = Scripted(None)
    with pytest.raises(RuntimeError, match="the assessor broke"):
        scheduler.run()
    first, second = store.trials()
    assert (first.status, first.final) == (TrialStatus.SUCCEEDED, 0.7)
    # left running for `resume` (issue 17: a launcher's failure cancels nothing)
    assert second.status is TrialStatus.RUNNING and second.intermediate == (0.5,)
    assert store.experiment().status is ExperimentStatus.ERROR
    assert "1 trial left running" in store.experiment().reason


def test_a_stop_written_by_another_process_is_seen(tmp_path: Path, home: Path) -> None:
    def forever(spec: TrialSpec) -> list[list[TrialEvent]]:
        running: list[list[TrialEvent]] = [[StatusChanged(spec.trial_id, TrialStatus.RUNNING)]]
        return running + [[] for _ in range(10_000)]

    store, platform = watched(tmp_path, home, forever, trials=10)
    polls = 0
    poll = platform.poll
    written = 0.0

    def poll_then_stop(timeout: float) -> list[TrialEvent]:
        nonlocal polls, written
        polls += 1
        assert polls < 5000, "the stop was never seen"
        if polls == 5:  # what `nnifc stop` does first, from its own connection
            Store(platform.path).request_stop()
            written = time.monotonic()
        time.sleep(0.001)
        return poll(timeout)

    platform.poll = poll_then_stop  # type: ignore[method-assign]
    assert Scheduler(platform.experiment, store, platform).run() is ExperimentStatus.STOPPED
    # seen at the next check (every STOP_CHECK_SECONDS); the slack is for a loaded CI machine,
    # where the stop's cancels and writes took 0.97 s: a loop that never looked would poll 5000 times
    assert polls > 5 and time.monotonic() - written < 4 * STOP_CHECK_SECONDS
    assert [t.status for t in store.trials()] == [TrialStatus.USER_CANCELED] * 2
    assert platform.seen == ["USER_CANCELED:0", "USER_CANCELED:0"]  # recorded before the cancel


READER = """\
import sys, time
from nnifc.errors import ExperimentNotFound
from nnifc.store import Store, experiment_ids
seen, empty = set(), []
print("ready", flush=True)
deadline = time.monotonic() + 60
while len(seen) < int(sys.argv[1]) and time.monotonic() < deadline:
    for exp_id in experiment_ids():
        if exp_id in seen:
            continue
        try:
            store = Store.open(exp_id)
            store.experiment()
            seen.add(exp_id)
            store.close()
        except ExperimentNotFound as e:
            empty.append(f"{exp_id}: {e}")
print(len(seen), *empty, sep="\\n")
"""


def test_another_process_never_sees_an_experiment_half_registered(
    tmp_path: Path, home: Path
) -> None:
    """`nnifc status` run while `create` registers lists the experiment whole or not at all."""
    experiment = make_experiment(tmp_path)
    count = 40
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(count)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert reader.stdout is not None and reader.stdout.readline() == "ready\n"
        for _ in range(count):
            experiments.register(experiment).close()
        out, _ = reader.communicate(timeout=90)
    finally:
        reader.kill()
        reader.wait()
    seen, *empty = out.splitlines()
    assert empty == [] and int(seen) == count
    assert sorted(p.name for p in (home / "experiments").iterdir()) == experiment_ids()
