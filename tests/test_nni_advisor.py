"""Users' own NNI advisors (MsgDispatcherBase subclasses) through the real CLI on the local
platform: a small advisor written here and NNI's own Hyperband, each driven by nnifc's loop;
resume after a killed launcher; the errors a config gets when the advisor cannot be built."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import created_id, loop_pid, run_nnifc, status_json, wait_for
from tests.test_nni_classes import kill_after_then_resume
from tests.test_nni_classes import write_experiment as nni_class_experiment

# xs at TRIAL_BUDGET 1, then the best `keep` of them again at budget 3; NoMoreTrialJobs while
# a round runs (then the next round goes out on the credit asked for, as NNI's Hyperband does).
# Logs every message it is given, as given, and what it sends.
RUNGS_ADVISOR = """\
    import json, os
    import nni
    from nni.runtime.msg_dispatcher_base import MsgDispatcherBase
    from nni.runtime.tuner_command_channel import CommandType

    class Rungs(MsgDispatcherBase):
        def __init__(self, xs, log, keep=2, optimize_mode="maximize"):
            super().__init__()
            if keep > len(xs):
                raise ValueError("keep must be at most len(xs)")
            self.xs, self.log, self.keep = list(xs), log, keep
            self.queue, self.credit, self.next_id = [], 0, 0
            self.sent = {}  # parameter_id -> parameters
            self.first = {}  # x -> its budget-1 result
            self.promoted = False

        def handle_initialize(self, data):
            self._write("initialize", data)
            self.queue = [{"x": x, "TRIAL_BUDGET": 1} for x in self.xs]
            self.send(CommandType.Initialized, "")

        def handle_update_search_space(self, data):
            self._write("space", data)

        def handle_import_data(self, data):
            self._write("import", data)
            for record in data:
                self._learn(record["parameter"], record["value"])
                if record["parameter"] in self.queue:
                    self.queue.remove(record["parameter"])
            self._promote()

        def handle_request_trial_jobs(self, data):
            self._write("request", data)
            self.credit += data
            if not self._send_jobs():
                self._write("no_more")
                self.send(CommandType.NoMoreTrialJobs, "")

        def handle_report_metric_data(self, data):
            self._write("metric", data)
            value = nni.load(data["value"])
            self._learn(self.sent[data["parameter_id"]], value)

        def handle_trial_end(self, data):
            self._write("end", data)
            self._promote()

        def _learn(self, params, value):
            if params["TRIAL_BUDGET"] == 1:
                self.first[params["x"]] = value

        def _promote(self):
            if not self.promoted and len(self.first) == len(self.xs):
                self.promoted = True
                best = sorted(self.xs, key=lambda x: -self.first[x])[: self.keep]
                self.queue += [{"x": x, "TRIAL_BUDGET": 3} for x in best]
                self._send_jobs()

        def _send_jobs(self):
            sent = False
            while self.credit > 0 and self.queue:
                params = self.queue.pop(0)
                self.credit -= 1
                self.sent[self.next_id] = params
                job = {"parameter_id": self.next_id, "parameter_source": "algorithm",
                       "parameters": params}
                self._write("send", job)
                self.send(CommandType.NewTrialJob, nni.dump(job))
                self.next_id += 1
                sent = True
            return sent

        def _write(self, *event):
            with open(self.log, "a") as f:
                f.write(json.dumps([os.getpid(), *event]) + "\\n")
"""

# NNI 3.0's Hyperband compares its string parameter ids with an int in Recoverable and raises
# TypeError at the first metric (microsoft/nni#5263): nothing here resumes NNI's way.
FIXED_HYPERBAND = """\
    from nni.algorithms.hpo.hyperband_advisor import Hyperband

    class FixedHyperband(Hyperband):
        def is_created_in_previous_exp(self, param_id):
            return False
"""

# reports x * 10 * budget; SLEEP seconds first
BUDGET_TRIAL = """\
    import os, time
    import nni
    params = nni.get_next_parameter()
    with open(os.environ["RUNS_LOG"], "a") as f:
        f.write(os.environ["NNI_TRIAL_JOB_ID"] + "\\n")
    time.sleep(float(os.environ.get("SLEEP", "0")))
    nni.report_final_result(params["x"] * 10 * params["TRIAL_BUDGET"])
"""


def write_experiment(
    tmp_path: Path,
    algorithms: str,
    *,
    concurrency: int = 2,
    max_trials: int = 50,
    files: dict[str, str] | None = None,
) -> Path:
    """A local experiment whose config has `algorithms` (the advisor section) verbatim."""
    return nni_class_experiment(
        tmp_path,
        algorithms,
        trial=BUDGET_TRIAL,
        concurrency=concurrency,
        max_trials=max_trials,
        files=files,
    )


def rungs(xs: list[float], log: Path, keep: int = 2) -> str:
    return textwrap.dedent(f"""\
        advisor:
          codeDir: algo
          classFileName: rungs.py
          className: Rungs
          classArgs: {{xs: {json.dumps(xs)}, log: {json.dumps(str(log))}, keep: {keep},
                      optimize_mode: maximize}}
        """)


def events(log: Path) -> list[list[Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def by_sequence(exp_id: str) -> list[dict[str, Any]]:
    return sorted(status_json(exp_id)["trials"], key=lambda t: t["sequence"])


def test_a_custom_advisor_chooses_the_trials_and_is_told_each_result_as_nni_tells_it(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log, runs = tmp_path / "advisor.log", tmp_path / "runs.log"
    monkeypatch.setenv("RUNS_LOG", str(runs))
    monkeypatch.setenv("SLEEP", "0.3")
    xs = [0.1, 0.4, 0.3, 0.2]
    config = write_experiment(tmp_path, rungs(xs, log), files={"rungs.py": RUNGS_ADVISOR})
    result = run_nnifc("create", "--config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    exp_id = created_id(result)
    status = status_json(exp_id)
    assert status["status"] == "DONE"
    trials = by_sequence(exp_id)
    # the promotions came once the first round ended: NoMoreTrialJobs meanwhile ended nothing
    assert [t["parameters"] for t in trials] == [
        *({"x": x, "TRIAL_BUDGET": 1} for x in xs),
        {"x": 0.4, "TRIAL_BUDGET": 3},
        {"x": 0.3, "TRIAL_BUDGET": 3},
    ]
    assert all(t["status"] == "SUCCEEDED" for t in trials)
    assert Counter(runs.read_text().split()) == Counter(t["id"] for t in trials)

    logged = events(log)
    starts = [i for i, e in enumerate(logged) if e[1] == "initialize"]
    assert len(starts) == 2  # create's check, then the loop's object, which ran it all
    mine = [e[1:] for e in logged[starts[1] :]]
    assert mine[0] == ["initialize", {"x": {"_type": "uniform", "_value": [0.0, 1.0]}}]
    assert "no_more" in [e[0] for e in mine]  # it answered no while the first round ran
    sent = {json.dumps(e[1]["parameters"], sort_keys=True): e[1] for e in mine if e[0] == "send"}
    assert len(sent) == 6
    metrics = [e[1] for e in mine if e[0] == "metric"]
    ends = [e[1] for e in mine if e[0] == "end"]
    assert len(metrics) == len(ends) == 6
    for trial in trials:
        job = sent[json.dumps(trial["parameters"], sort_keys=True)]
        metric = next(m for m in metrics if m["parameter_id"] == job["parameter_id"])
        # NNI manager's shapes: the value as the trial's JSON text, a FINAL of sequence 0
        assert metric["type"] == "FINAL" and metric["sequence"] == 0
        assert isinstance(metric["value"], str)
        params = trial["parameters"]
        assert json.loads(metric["value"]) == pytest.approx(
            params["x"] * 10 * params["TRIAL_BUDGET"]
        )
        end = next(e for e in ends if e["trial_job_id"] == metric["trial_job_id"])
        assert end["event"] == "SUCCEEDED"
        assert isinstance(end["hyper_params"], str)  # the NewTrialJob's text, as sent
        assert json.loads(end["hyper_params"]) == job
    assert not [e for e in mine if e[0] == "import"]


def test_nnis_hyperband_through_the_adapter_follows_its_schedule(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNS_LOG", str(tmp_path / "runs.log"))
    advisor = """\
        advisor:
          codeDir: algo
          classFileName: fixed_hyperband.py
          className: FixedHyperband
          classArgs: {optimize_mode: maximize, R: 3, eta: 3, exec_mode: serial}
        """
    # R 3, eta 3: the first bracket is 3 configs at 1, then the best one at 3 (serial: the
    # promotion waits for all three)
    config = write_experiment(
        tmp_path,
        advisor,
        concurrency=3,
        max_trials=4,
        files={"fixed_hyperband.py": FIXED_HYPERBAND},
    )
    result = run_nnifc("create", "--config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    exp_id = created_id(result)
    assert status_json(exp_id)["status"] == "DONE"
    trials = by_sequence(exp_id)
    assert all(t["status"] == "SUCCEEDED" for t in trials)
    budgets = [t["parameters"]["TRIAL_BUDGET"] for t in trials]
    assert budgets == [1] * 3 + [3]
    assert trials[3]["parameters"]["x"] == max(t["parameters"]["x"] for t in trials[:3])


def test_a_resumed_loop_imports_every_result_and_starts_nothing_twice(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log, runs = tmp_path / "advisor.log", tmp_path / "runs.log"
    monkeypatch.setenv("RUNS_LOG", str(runs))
    monkeypatch.setenv("SLEEP", "1")
    xs = [0.15, 0.35, 0.25, 0.45, 0.05]
    config = write_experiment(
        tmp_path, rungs(xs, log, keep=1), concurrency=1, files={"rungs.py": RUNGS_ADVISOR}
    )
    created = run_nnifc("create", "--config", str(config), "--detach")
    assert created.returncode == 0, created.stdout + created.stderr
    exp_id = created_id(created)
    first = kill_after_then_resume(exp_id, 2)

    assert status_json(exp_id)["status"] == "DONE"
    trials = by_sequence(exp_id)
    assert all(t["status"] == "SUCCEEDED" for t in trials)
    assert [t["parameters"] for t in trials] == [
        *({"x": x, "TRIAL_BUDGET": 1} for x in xs),
        {"x": 0.45, "TRIAL_BUDGET": 3},
    ]
    assert Counter(runs.read_text().split()) == Counter(t["id"] for t in trials)  # each ran once
    second = [e for e in events(log) if e[1] == "initialize"][-1][0]
    assert second not in (first, os.getpid())
    after = [e[1:] for e in events(log) if e[0] == second]
    # the second object learnt every result once: the first loop's imported before it proposed
    assert after[1][0] == "import"
    learnt = [
        (r["parameter"]["x"], r["parameter"]["TRIAL_BUDGET"], r["value"])
        for e in after
        if e[0] == "import"
        for r in e[1]
    ]
    jobs = {e[1]["parameter_id"]: e[1]["parameters"] for e in after if e[0] == "send"}
    for e in after:
        if e[0] == "metric":
            params = jobs[e[1]["parameter_id"]]
            learnt.append((params["x"], params["TRIAL_BUDGET"], json.loads(e[1]["value"])))
    expected = [
        (p["x"], p["TRIAL_BUDGET"], p["x"] * 10 * p["TRIAL_BUDGET"])
        for p in (t["parameters"] for t in trials)
    ]
    assert sorted((x, b, round(v, 9)) for x, b, v in learnt) == sorted(
        (x, b, round(v, 9)) for x, b, v in expected
    )


# One job per x; a trial whose first intermediate result is below `below` is killed at once.
STOPPING_ADVISOR = """\
    import json, os
    import nni
    from nni.runtime.msg_dispatcher_base import MsgDispatcherBase
    from nni.runtime.tuner_command_channel import CommandType

    class Stopping(MsgDispatcherBase):
        def __init__(self, xs, log, below, optimize_mode="maximize"):
            super().__init__()
            self.queue, self.log, self.below = [{"x": x} for x in xs], log, below

        def handle_initialize(self, data):
            self.send(CommandType.Initialized, "")

        def handle_request_trial_jobs(self, data):
            for _ in range(data):
                if not self.queue:
                    self.send(CommandType.NoMoreTrialJobs, "")
                    return
                params = self.queue.pop(0)
                job = {"parameter_id": params["x"], "parameter_source": "algorithm",
                       "parameters": params}
                self.send(CommandType.NewTrialJob, nni.dump(job))

        def handle_report_metric_data(self, data):
            self._write("metric", data)
            if data["type"] == "PERIODICAL" and nni.load(data["value"]) < self.below:
                self._write("kill", data["trial_job_id"])
                self.send(CommandType.KillTrialJob, json.dumps(data["trial_job_id"]))

        def handle_trial_end(self, data):
            self._write("end", data)

        def handle_import_data(self, data):
            pass

        def _write(self, *event):
            with open(self.log, "a") as f:
                f.write(json.dumps([os.getpid(), *event]) + "\\n")
"""

# reports x + step for STEPS steps, then x * 10
CURVE_TRIAL = """\
    import time
    import nni
    params = nni.get_next_parameter()
    for step in range({steps}):
        nni.report_intermediate_result(params["x"] + step)
        time.sleep(0.3)
    nni.report_final_result(params["x"] * 10)
"""


def test_an_advisor_is_told_each_intermediate_result_and_its_kills_stop_trials_early(
    tmp_path: Path, home: Path
) -> None:
    log, steps = tmp_path / "advisor.log", 6
    xs = [0.9, 0.1, 0.8, 0.2]
    advisor = textwrap.dedent(f"""\
        advisor:
          codeDir: algo
          classFileName: stopping.py
          className: Stopping
          classArgs: {{xs: {json.dumps(xs)}, log: {json.dumps(str(log))}, below: 0.5}}
        """)
    config = nni_class_experiment(
        tmp_path,
        advisor,
        trial=CURVE_TRIAL.format(steps=steps),
        max_trials=10,
        files={"stopping.py": STOPPING_ADVISOR},
    )
    result = run_nnifc("create", "--config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    trials = {t["parameters"]["x"]: t for t in status_json(created_id(result))["trials"]}
    assert sorted(trials) == sorted(xs)
    logged = [e[1:] for e in events(log)]
    periodical = [e[1] for e in logged if e[0] == "metric" and e[1]["type"] == "PERIODICAL"]
    ends = {e[1]["trial_job_id"]: e[1] for e in logged if e[0] == "end"}
    killed = {e[1] for e in logged if e[0] == "kill"}
    for x, trial in trials.items():
        told = [m for m in periodical if m["parameter_id"] == x]
        job = told[0]["trial_job_id"]
        # each intermediate result as NNI's SDK numbers it, the value as the trial's JSON text
        assert [m["sequence"] for m in told] == list(range(len(told)))
        assert [json.loads(m["value"]) for m in told] == pytest.approx(trial["intermediate"])
        if x < 0.5:
            assert job in killed
            assert trial["status"] == "EARLY_STOPPED", trial
            assert trial["message"] == "stopped early by the advisor (KillTrialJob)"
            assert trial["final"] is None and len(trial["intermediate"]) < steps
            assert ends[job]["event"] == "EARLY_STOPPED"
        else:
            assert job not in killed
            assert trial["status"] == "SUCCEEDED" and trial["final"] == pytest.approx(x * 10)
            assert len(told) == steps
            assert ends[job]["event"] == "SUCCEEDED"


BAD_ADVISORS = {
    "missing class": ("className: Nope", "advisor.className", "defines no class Nope"),
    "bad classArgs": (
        "classArgs: {xs: [0.1], log: x, keep: 5}",
        "advisor.classArgs",
        "Rungs(**{",
    ),
    "missing file": ("classFileName: nope.py", "advisor.classFileName", "no such file"),
}


@pytest.mark.parametrize("case", BAD_ADVISORS)
def test_an_advisor_that_cannot_be_built_is_a_config_error_at_its_key(
    tmp_path: Path, home: Path, case: str
) -> None:
    replace, key, message = BAD_ADVISORS[case]
    lines = [
        "advisor:",
        "  codeDir: algo",
        "  classFileName: rungs.py",
        "  className: Rungs",
        "  classArgs: {xs: [0.1], log: x, keep: 1}",
    ]
    at = next(i for i, line in enumerate(lines) if line.strip().startswith(key.split(".")[1]))
    lines[at] = "  " + replace
    config = write_experiment(tmp_path, "\n".join(lines) + "\n", files={"rungs.py": RUNGS_ADVISOR})
    line = config.read_text().splitlines().index(lines[at]) + 1
    result = run_nnifc("create", "--config", str(config))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{config}:{line}:" in result.stderr and key in result.stderr, result.stderr
    assert message in result.stderr
    if case == "bad classArgs":
        assert "ValueError: keep must be at most len(xs)" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (home / "experiments").exists() or not list((home / "experiments").iterdir())


def test_an_advisor_beside_a_tuner_is_refused_at_the_advisor(tmp_path: Path, home: Path) -> None:
    algorithms = rungs([0.1], tmp_path / "log") + "tuner:\n  builtinTunerName: Random\n"
    config = write_experiment(tmp_path, algorithms, files={"rungs.py": RUNGS_ADVISOR})
    result = run_nnifc("create", "--config", str(config))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{config}:9:" in result.stderr and "an advisor replaces the tuner" in result.stderr
    assert "Traceback" not in result.stderr


def test_without_nni_a_custom_advisor_says_to_install_the_extra(tmp_path: Path, home: Path) -> None:
    shim = tmp_path / "shim" / "nni"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text('raise ImportError("nni is hidden from this launcher")\n')
    env = {**os.environ, "PYTHONPATH": str(shim.parent)}
    config = write_experiment(
        tmp_path, rungs([0.1], tmp_path / "log"), files={"rungs.py": RUNGS_ADVISOR}
    )
    result = subprocess.run(
        [sys.executable, "-m", "nnifc", "create", "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{config}:12:" in result.stderr and "advisor.className" in result.stderr
    assert "pip install 'nnifc[nni]'" in result.stderr
    assert "Traceback" not in result.stderr


# one trial; asks to kill it when its result comes
KILLING_ADVISOR = """\
    import nni
    from nni.runtime.msg_dispatcher_base import MsgDispatcherBase
    from nni.runtime.tuner_command_channel import CommandType

    class Killing(MsgDispatcherBase):
        def __init__(self):
            super().__init__()
            self.sent = False

        def handle_initialize(self, data):
            self.send(CommandType.Initialized, "")

        def handle_request_trial_jobs(self, data):
            if self.sent:
                self.send(CommandType.NoMoreTrialJobs, "")
                return
            self.sent = True
            job = {"parameter_id": 0, "parameters": {"x": 0.5, "TRIAL_BUDGET": 1}}
            self.send(CommandType.NewTrialJob, nni.dump(job))

        def handle_report_metric_data(self, data):
            self.send(CommandType.KillTrialJob, nni.dump(data["trial_job_id"]))

        def handle_trial_end(self, data):
            pass
"""


def test_a_kill_for_a_trial_that_has_ended_is_logged_and_changes_nothing(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNS_LOG", str(tmp_path / "runs.log"))
    advisor = """\
        advisor:
          codeDir: algo
          classFileName: killing.py
          className: Killing
          classArgs: {}
        """
    config = write_experiment(tmp_path, advisor, files={"killing.py": KILLING_ADVISOR})
    result = run_nnifc("create", "--config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    status = status_json(created_id(result))
    assert status["status"] == "DONE"
    assert [t["status"] for t in status["trials"]] == ["SUCCEEDED"]
    assert (
        "asked in handle_report_metric_data to kill trial job nnifc-1, which has ended:"
        " nothing to stop" in result.stderr
    ), result.stderr


def test_nni_v2s_dotted_class_name_names_the_advisors_file(tmp_path: Path, home: Path) -> None:
    write_experiment(tmp_path, "", files={"rungs.py": RUNGS_ADVISOR})
    log = tmp_path / "advisor.log"
    v2 = tmp_path / "v2.yml"
    v2.write_text(
        textwrap.dedent(f"""\
        experimentName: v2
        trialConcurrency: 1
        maxTrialNumber: 2
        searchSpaceFile: space.json
        trialCommand: python3 trial.py
        trialCodeDirectory: code
        advisor:
          className: rungs.Rungs
          codeDirectory: algo
          classArgs: {{xs: [0.25, 0.75], log: {json.dumps(str(log))}, keep: 1}}
        trainingService:
          platform: local
        """)
    )
    result = run_nnifc("create", "--config", str(v2), "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert '{"x": 0.25, "TRIAL_BUDGET": 1}' in result.stdout, result.stdout
    assert "Rungs" in result.stdout


# Keeps its state in get_checkpoint_path() and loads it on resume; told the trials an earlier
# object started (handle_add_customized_trial), it kills those whose x is below 0.5.
RESUMABLE_ADVISOR = """\
    import json, os
    import nni
    from nni.runtime.msg_dispatcher_base import MsgDispatcherBase
    from nni.runtime.tuner_command_channel import CommandType

    class Resumable(MsgDispatcherBase):
        def __init__(self, xs, log):
            super().__init__()
            self.xs, self.log, self.sent, self.resumed = list(xs), log, [], {}

        def load_checkpoint(self):
            path = os.path.join(self.get_checkpoint_path(), "resumable.json")
            with open(path) as f:
                self.sent = json.load(f)
            self._write("load", self.get_checkpoint_path(), self.sent)

        def handle_initialize(self, data):
            self._write("initialize", self.get_checkpoint_path())
            self.send(CommandType.Initialized, "")

        def handle_add_customized_trial(self, data):
            self._write("customized", data)
            self.resumed = {job["parameter_id"]: job["parameters"] for job in data}

        def handle_request_trial_jobs(self, data):
            for _ in range(data):
                left = [x for x in self.xs if x not in self.sent]
                if not left:
                    self.send(CommandType.NoMoreTrialJobs, "")
                    return
                self.sent.append(left[0])
                with open(os.path.join(self.get_checkpoint_path(), "resumable.json"), "w") as f:
                    json.dump(self.sent, f)
                job = {"parameter_id": len(self.sent), "parameter_source": "algorithm",
                       "parameters": {"x": left[0]}}
                self._write("send", job)
                self.send(CommandType.NewTrialJob, nni.dump(job))

        def handle_report_metric_data(self, data):
            self._write("metric", data)
            params = self.resumed.get(data["parameter_id"])
            if data["type"] == "PERIODICAL" and params and params["x"] < 0.5:
                self.send(CommandType.KillTrialJob, json.dumps(data["trial_job_id"]))

        def handle_trial_end(self, data):
            self._write("end", data)

        def handle_import_data(self, data):
            self._write("import", data)

        def _write(self, *event):
            with open(self.log, "a") as f:
                f.write(json.dumps([os.getpid(), *event]) + "\\n")
"""

# NNI_TRIAL_JOB_ID to RUNS_LOG, then x + step / 100 every 0.4 s, then x * 10; 16 steps, or
# 300 for x below 0.5 (those the advisor kills: still running however slow the resume)
LONG_CURVE_TRIAL = """\
    import os, time
    import nni
    params = nni.get_next_parameter()
    with open(os.environ["RUNS_LOG"], "a") as f:
        f.write(os.environ["NNI_TRIAL_JOB_ID"] + "\\n")
    for step in range(16 if params["x"] >= 0.5 else 300):
        nni.report_intermediate_result(params["x"] + step / 100)
        time.sleep(0.4)
    nni.report_final_result(params["x"] * 10)
"""


def test_a_resumed_advisor_loads_its_checkpoint_and_follows_the_trials_still_running(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log, runs = tmp_path / "advisor.log", tmp_path / "runs.log"
    monkeypatch.setenv("RUNS_LOG", str(runs))
    xs = [0.9, 0.2, 0.7]
    advisor = textwrap.dedent(f"""\
        advisor:
          codeDir: algo
          classFileName: resumable.py
          className: Resumable
          classArgs: {{xs: {json.dumps(xs)}, log: {json.dumps(str(log))}}}
        """)
    config = nni_class_experiment(
        tmp_path,
        advisor,
        trial=LONG_CURVE_TRIAL,
        max_trials=10,
        files={"resumable.py": RESUMABLE_ADVISOR},
    )
    created = run_nnifc("create", "--config", str(config), "--detach")
    assert created.returncode == 0, created.stdout + created.stderr
    exp_id = created_id(created)

    def both_reporting() -> bool:
        trials = status_json(exp_id)["trials"]
        return len(trials) == 2 and all(len(t["intermediate"]) >= 2 for t in trials)

    wait_for(both_reporting, timeout=60, what="the first two trials to report twice")
    first = loop_pid(exp_id)
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: not Path(f"/proc/{first}").exists(), timeout=10, what="the loop to die")
    resumed = run_nnifc("resume", exp_id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr

    trials = {t["parameters"]["x"]: t for t in status_json(exp_id)["trials"]}
    assert sorted(trials) == sorted(xs)
    assert Counter(runs.read_text().split()) == Counter(t["id"] for t in trials.values())
    assert trials[0.9]["status"] == "SUCCEEDED" and trials[0.9]["final"] == pytest.approx(9.0)
    assert trials[0.7]["status"] == "SUCCEEDED"
    assert trials[0.2]["status"] == "EARLY_STOPPED", trials[0.2]
    assert trials[0.2]["message"] == "stopped early by the advisor (KillTrialJob)"

    logged = events(log)
    checkpoint = str(home / "experiments" / exp_id / "checkpoint")
    assert (Path(checkpoint).stat().st_mode & 0o777) == 0o700
    second = next(e[0] for e in logged if e[1] == "load")
    before = [e[1:] for e in logged if e[0] == first]
    after = [e[1:] for e in logged if e[0] == second]
    assert before[0] == ["initialize", checkpoint]  # a created experiment loads nothing
    # other processes (create's and resume's checks of the config) only built it
    assert {e[1] for e in logged if e[0] not in (first, second)} == {"initialize"}
    # NNI's order on resume: load_checkpoint, initialize, import, the trials still running
    assert [e[0] for e in after[:3]] == ["load", "initialize", "customized"]
    assert after[0][1:] == [checkpoint, [0.9, 0.2]]
    sent = {e[1]["parameters"]["x"]: e[1] for e in before if e[0] == "send"}
    assert sorted(after[2][1], key=lambda j: j["parameter_id"]) == [
        {
            "parameter_id": sent[x]["parameter_id"],
            "parameter_source": "resumed",
            "parameters": {"x": x},
            "parameter_index": 0,
        }
        for x in (0.9, 0.2)
    ]
    # each intermediate result told once, by one object or the other, under the first ids
    metrics = [e[1] for e in before + after if e[0] == "metric"]
    job_ids = {m["parameter_id"]: m["trial_job_id"] for m in metrics if m["type"] == "PERIODICAL"}
    for x in (0.9, 0.2):
        told = [m for m in metrics if m["parameter_id"] == sent[x]["parameter_id"]]
        assert {m["trial_job_id"] for m in told} == {job_ids[sent[x]["parameter_id"]]}
        steps = [m["sequence"] for m in told if m["type"] == "PERIODICAL"]
        assert steps == list(range(len(trials[x]["intermediate"])))
    ends = {e[1]["trial_job_id"]: e[1] for e in after if e[0] == "end"}
    assert ends[job_ids[sent[0.9]["parameter_id"]]]["event"] == "SUCCEEDED"
    assert ends[job_ids[sent[0.2]["parameter_id"]]]["event"] == "EARLY_STOPPED"
    new = [e[1] for e in after if e[0] == "send"]
    assert [job["parameters"] for job in new] == [{"x": 0.7}]
    assert len(set(job_ids.values()) | {m["trial_job_id"] for m in metrics}) == 3  # no id reused
