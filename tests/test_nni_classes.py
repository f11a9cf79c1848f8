"""NNI's class API through the real CLI: custom tuners and assessors loaded from codeDir, NNI's
own RandomTuner through the adapter, resume after a killed launcher, and the errors a config
gets when the class, its file, its classArgs or nni itself are missing."""

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

import nni
import numpy as np
import pytest
from nni.algorithms.hpo.random_tuner import RandomTuner

from tests.conftest import (
    created_id,
    loop_pid,
    run_nnifc,
    status_json,
    wait_for,
)

NNI_HPO_DIR = Path(nni.__file__).parent / "algorithms" / "hpo"

# Proposes xs[parameter_id] (ids continue after a resume) and logs every call NNI's API makes.
FIXED_TUNER = """\
    import json, os
    import nni
    from nni.tuner import Tuner

    class FixedTuner(Tuner):
        def __init__(self, xs, log, optimize_mode="maximize"):
            self.xs, self.log = list(xs), log

        def update_search_space(self, search_space):
            self._write("space", search_space)

        def load_checkpoint(self):
            self._write("load", self.get_checkpoint_path())

        def generate_parameters(self, parameter_id, **kwargs):
            if parameter_id >= len(self.xs):
                raise nni.NoMoreTrialError
            self._write("generate", parameter_id, self.xs[parameter_id])
            return {"x": self.xs[parameter_id]}

        def receive_trial_result(self, parameter_id, parameters, value, **kwargs):
            self._write("result", parameter_id, parameters["x"], value)

        def trial_end(self, parameter_id, success, **kwargs):
            self._write("end", parameter_id, success)

        def import_data(self, data):
            for record in data:
                self._write("import", None, record["parameter"]["x"], record["value"])

        def _write(self, *event):
            with open(self.log, "a") as f:
                f.write(json.dumps([os.getpid(), *event]) + "\\n")
"""

# the metric is 10x; x == 0.5 fails; SLEEP seconds first
FIXED_TRIAL = """\
    import os, sys, time
    import nni
    x = nni.get_next_parameter()["x"]
    with open(os.environ["RUNS_LOG"], "a") as f:
        f.write(os.environ["NNI_TRIAL_JOB_ID"] + "\\n")
    time.sleep(float(os.environ.get("SLEEP", "0")))
    if x == 0.5:
        sys.exit("x is 0.5")
    nni.report_final_result(x * 10)
"""

THRESHOLD_ASSESSOR = """\
    import json
    from nni.assessor import Assessor, AssessResult

    class Threshold(Assessor):
        def __init__(self, threshold, log, optimize_mode="maximize"):
            if threshold < 0:
                raise ValueError("threshold must be >= 0")
            self.threshold, self.log = threshold, log

        def assess_trial(self, trial_job_id, trial_history):
            return AssessResult.Bad if trial_history[0] < self.threshold else AssessResult.Good

        def trial_end(self, trial_job_id, success):
            with open(self.log, "a") as f:
                f.write(json.dumps([trial_job_id, success]) + "\\n")
"""


def write_experiment(
    tmp_path: Path,
    algorithms: str,
    *,
    trial: str = FIXED_TRIAL,
    space: dict[str, Any] | None = None,
    concurrency: int = 2,
    max_trials: int = 20,
    files: dict[str, str] | None = None,
) -> Path:
    """A local experiment whose config has `algorithms` (tuner/assessor sections) verbatim."""
    code, algo = tmp_path / "code", tmp_path / "algo"
    code.mkdir(exist_ok=True)
    algo.mkdir(exist_ok=True)
    (code / "trial.py").write_text(textwrap.dedent(trial))
    for name, text in (files or {}).items():
        (algo / name).write_text(textwrap.dedent(text))
    space = space or {"x": {"_type": "uniform", "_value": [0, 1]}}
    (tmp_path / "space.json").write_text(json.dumps(space))
    config = tmp_path / "exp.yml"
    config.write_text(
        textwrap.dedent(f"""\
        experimentName: nni-classes
        trialConcurrency: {concurrency}
        maxTrialNum: {max_trials}
        trainingServicePlatform: local
        searchSpacePath: space.json
        trial:
          command: python3 trial.py
          codeDir: code
        """)
        + textwrap.dedent(algorithms)
    )
    return config


def fixed_tuner(xs: list[float], log: Path, mode: str = "maximize") -> str:
    return textwrap.dedent(f"""\
        tuner:
          codeDir: algo
          classFileName: fixed_tuner.py
          className: FixedTuner
          classArgs: {{xs: {json.dumps(xs)}, log: {json.dumps(str(log))}, optimize_mode: {mode}}}
        """)


def events(log: Path) -> list[list[Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def kill_after_then_resume(exp_id: str, succeeded: int) -> int:
    """kill -9 the experiment's loop once `succeeded` trials have, then `nnifc resume` it;
    the killed loop's pid."""

    def finished() -> int:
        return sum(t["status"] == "SUCCEEDED" for t in status_json(exp_id)["trials"])

    wait_for(lambda: finished() >= succeeded, timeout=60, what=f"{succeeded} trials to finish")
    first = loop_pid(exp_id)
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: not Path(f"/proc/{first}").exists(), timeout=10, what="the loop to die")
    resumed = run_nnifc("resume", exp_id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    return first


def by_sequence(exp_id: str) -> list[dict[str, Any]]:
    return sorted(status_json(exp_id)["trials"], key=lambda t: t["sequence"])


@pytest.mark.parametrize("mode", ["maximize", "minimize"])
def test_a_custom_tuner_is_told_every_result_raw_with_its_parameter_id(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    log, runs = tmp_path / "tuner.log", tmp_path / "runs.log"
    monkeypatch.setenv("RUNS_LOG", str(runs))
    xs = [0.1, 0.2, 0.5, 0.3, 0.7]
    tuner = fixed_tuner(xs, log, mode)
    config = write_experiment(tmp_path, tuner, files={"fixed_tuner.py": FIXED_TUNER})
    result = run_nnifc("create", "--config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    trials = by_sequence(created_id(result))
    assert [t["parameters"]["x"] for t in trials] == xs  # then NoMoreTrialError ended it
    assert [t["status"] for t in trials] == ["SUCCEEDED"] * 2 + ["FAILED"] + ["SUCCEEDED"] * 2
    loop = [e for e in events(log) if e[1] != "space" or e[0] != os.getpid()]
    pids = {e[0] for e in loop if e[1] == "generate"}
    assert len(pids) == 1  # one NNI object proposed them all
    mine = [e[1:] for e in loop if e[0] in pids]
    assert mine[0] == ["space", {"x": {"_type": "uniform", "_value": [0.0, 1.0]}}]
    generated = {e[2]: e[1] for e in mine if e[0] == "generate"}  # x -> parameter_id
    assert generated == {x: i for i, x in enumerate(xs)}
    results = [e[1:] for e in mine if e[0] == "result"]
    assert sorted(results) == sorted([generated[x], x, x * 10] for x in xs if x != 0.5)
    ends = sorted(e[1:] for e in mine if e[0] == "end")
    assert ends == [[i, x != 0.5] for i, x in enumerate(xs)]
    assert not [e for e in mine if e[0] == "import"]


def test_nnis_random_tuner_through_the_adapter_proposes_what_nni_itself_does(
    tmp_path: Path,
) -> None:
    """The config's class, loaded as the loop loads it, proposes NNI's own sequence for the seed
    (in this process: what a trial then receives is the custom tuner test's concern)."""
    from nnifc import config as loader

    space = {
        "x": {"_type": "uniform", "_value": [0, 1]},
        "k": {"_type": "randint", "_value": [1, 50]},
        "c": {"_type": "choice", "_value": ["a", "b", 3]},
        "lr": {"_type": "qloguniform", "_value": [0.001, 1, 0.001]},
        "n": {"_type": "normal", "_value": [0, 2]},
    }
    tuner = f"""\
        tuner:
          codeDir: {NNI_HPO_DIR}
          classFileName: random_tuner.py
          className: RandomTuner
          classArgs: {{seed: 7}}
        """
    experiment = loader.load(write_experiment(tmp_path, tuner, space=space, max_trials=6))
    adapter = experiment.tuner_class(experiment.space, experiment.tuner_options)
    ran: list[Any] = []
    for i in range(6):
        ran.append(adapter.propose([], list(ran), np.random.default_rng(i)))
    nnis = RandomTuner(seed=7)
    nnis.update_search_space(space)
    expected = [nnis.generate_parameters(i) for i in range(6)]
    assert json.loads(json.dumps(ran)) == json.loads(
        json.dumps(expected, default=lambda v: v.item())
    )


def test_a_custom_assessor_stops_the_trials_it_judges_bad(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "assessor.log"
    trial = """\
        import time
        import nni
        x = nni.get_next_parameter()["x"]
        nni.report_intermediate_result(x)
        time.sleep(30 if x < 0.5 else 0.5)
        nni.report_intermediate_result(x)
        nni.report_final_result(x)
    """
    algorithms = fixed_tuner([0.1, 0.9, 0.2, 0.8], tmp_path / "tuner.log") + textwrap.dedent(f"""\
        assessor:
          codeDir: algo
          classFileName: threshold.py
          className: Threshold
          classArgs: {{threshold: 0.5, log: {json.dumps(str(log))}, optimize_mode: maximize}}
        """)
    files = {"threshold.py": THRESHOLD_ASSESSOR, "fixed_tuner.py": FIXED_TUNER}
    config = write_experiment(tmp_path, algorithms, trial=trial, files=files)
    result = run_nnifc("create", "--config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    trials = by_sequence(created_id(result))
    statuses = {t["parameters"]["x"]: t["status"] for t in trials}
    assert statuses == {
        0.1: "EARLY_STOPPED",
        0.9: "SUCCEEDED",
        0.2: "EARLY_STOPPED",
        0.8: "SUCCEEDED",
    }
    ended = {trial_id: success for trial_id, success in events(log)}
    assert ended == {t["id"]: t["status"] == "SUCCEEDED" for t in trials}


def test_a_resumed_loop_replays_the_history_and_tells_each_result_once(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log, runs = tmp_path / "tuner.log", tmp_path / "runs.log"
    monkeypatch.setenv("RUNS_LOG", str(runs))
    monkeypatch.setenv("SLEEP", "1")
    xs = [round(0.11 + 0.01 * i, 2) for i in range(10)]  # none is 0.5, which fails
    config = write_experiment(tmp_path, fixed_tuner(xs, log), files={"fixed_tuner.py": FIXED_TUNER})
    created = run_nnifc("create", "--config", str(config), "--detach")
    assert created.returncode == 0, created.stdout + created.stderr
    exp_id = created_id(created)
    first = kill_after_then_resume(exp_id, 3)

    trials = by_sequence(exp_id)
    assert [t["parameters"]["x"] for t in trials] == xs
    assert all(t["status"] == "SUCCEEDED" for t in trials)
    assert Counter(runs.read_text().split()) == Counter(t["id"] for t in trials)  # each ran once
    told = [e for e in events(log) if e[1] in ("result", "import", "generate")]
    second = told[-1][0]
    assert {e[0] for e in told} == {first, second}
    before = [e[1:] for e in told if e[0] == first]
    after = [e[1:] for e in told if e[0] == second]
    # the second NNI object: the first loop's results imported before its first proposal, then
    # every other result once, raw, as a result of its own proposal or (started by the first
    # loop) imported
    assert after[0][0] == "import"
    assert after.index(next(e for e in after if e[0] == "generate")) > 0
    assert [e[1] for e in after if e[0] == "generate"] == list(
        range(len(before_generated(before)), 10)
    )
    learnt = [(e[2], e[3]) for e in after if e[0] in ("result", "import")]
    assert sorted(learnt) == [(x, x * 10) for x in xs]
    # the first: each of its results once
    first_learnt = [e[2] for e in before if e[0] == "result"]
    assert len(first_learnt) >= 3 and len(set(first_learnt)) == len(first_learnt)
    # as NNI's dispatcher on resume: load_checkpoint() first, from the experiment's directory
    calls = [e[1:] for e in events(log) if e[0] in (first, second) and e[1] in ("load", "space")]
    checkpoint = str(home / "experiments" / exp_id / "checkpoint")
    assert calls == [["space", calls[0][1]], ["load", checkpoint], ["space", calls[0][1]]]


def before_generated(before: list[list[Any]]) -> list[Any]:
    return [e for e in before if e[0] == "generate"]


def test_nni_v2s_dotted_class_name_names_the_class_file(tmp_path: Path, home: Path) -> None:
    write_experiment(tmp_path, "", files={"fixed_tuner.py": FIXED_TUNER})
    log = tmp_path / "tuner.log"
    v2 = tmp_path / "v2.yml"
    v2.write_text(
        textwrap.dedent(f"""\
        experimentName: v2
        trialConcurrency: 1
        maxTrialNumber: 1
        searchSpaceFile: space.json
        trialCommand: python3 trial.py
        trialCodeDirectory: code
        tuner:
          className: fixed_tuner.FixedTuner
          codeDirectory: algo
          classArgs: {{xs: [0.25], log: {json.dumps(str(log))}, optimize_mode: minimize}}
        trainingService:
          platform: local
        """)
    )
    result = run_nnifc("create", "--config", str(v2), "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert '{"x": 0.25}' in result.stdout and "minimize" in result.stdout


BAD_CLASSES = {
    "missing file": (
        "classFileName: nope.py",
        "classFileName",
        "no such file",
    ),
    "missing class": (
        "className: Nope",
        "className",
        "defines no class Nope",
    ),
    "__init__ raises": (
        "classArgs: {threshold: -1, log: x}",
        "classArgs",
        'Threshold(**{"threshold": -1, "log": "x"}) raised ValueError: threshold must be >= 0',
    ),
}


@pytest.mark.parametrize("case", BAD_CLASSES)
def test_a_class_that_cannot_be_built_is_a_config_error_at_its_key(
    tmp_path: Path, home: Path, case: str
) -> None:
    replace, key, message = BAD_CLASSES[case]
    lines = [
        "assessor:",
        "  codeDir: algo",
        "  classFileName: threshold.py",
        "  className: Threshold",
        "  classArgs: {threshold: 0.5, log: x}",
        "tuner:",
        "  builtinTunerName: Random",
    ]
    at = next(i for i, line in enumerate(lines) if line.strip().startswith(key))
    lines[at] = "  " + replace
    config = write_experiment(
        tmp_path, "\n".join(lines) + "\n", files={"threshold.py": THRESHOLD_ASSESSOR}
    )
    line = config.read_text().splitlines().index(lines[at]) + 1
    result = run_nnifc("create", "--config", str(config))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{config}:{line}:" in result.stderr and f"assessor.{key}" in result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (home / "experiments").exists() or not list((home / "experiments").iterdir())


def test_nnis_smac_without_its_packages_says_what_to_install(tmp_path: Path, home: Path) -> None:
    config = write_experiment(tmp_path, "tuner:\n  builtinTunerName: SMAC\n")
    result = run_nnifc("create", "--config", str(config))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{config}:10:" in result.stderr and "tuner.builtinTunerName" in result.stderr
    assert "pip install smac4nni ConfigSpaceNNI" in result.stderr
    assert "Traceback" not in result.stderr


def test_without_nni_a_class_config_says_to_install_the_extra(tmp_path: Path, home: Path) -> None:
    shim = tmp_path / "shim" / "nni"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text('raise ImportError("nni is hidden from this launcher")\n')
    env = {**os.environ, "PYTHONPATH": str(shim.parent)}
    hidden = subprocess.run([sys.executable, "-c", "import nni"], env=env, capture_output=True)
    assert hidden.returncode != 0  # a real import failure
    for name, algorithms, line in [
        ("custom", fixed_tuner([0.1], tmp_path / "log"), 12),
        ("builtin", "tuner:\n  builtinTunerName: DNGOTuner\n", 10),
    ]:
        (tmp_path / name).mkdir()
        config = write_experiment(
            tmp_path / name, algorithms, files={"fixed_tuner.py": FIXED_TUNER}
        )
        result = subprocess.run(
            [sys.executable, "-m", "nnifc", "create", "--config", str(config)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1, result.stdout + result.stderr
        assert f"{config}:{line}:" in result.stderr, result.stderr
        assert "pip install 'nnifc[nni]'" in result.stderr
        assert "Traceback" not in result.stderr


def test_a_resumed_loops_assessor_is_told_the_curves_that_succeeded_before_it(
    tmp_path: Path,
) -> None:
    """NNI's own median stop through the adapter: the object a resumed loop builds compares a
    running curve with the same completed curves the killed loop's object had seen."""
    from nni.algorithms.hpo.medianstop_assessor import MedianstopAssessor
    from nni.assessor import AssessResult

    from nnifc.assessors.base import AssessorOptions, Verdict
    from nnifc.nni_classes import ClassSource, assessor_class

    (tmp_path / "median.py").write_text(
        "from nni.algorithms.hpo.medianstop_assessor import MedianstopAssessor as Median\n"
    )
    args = {"optimize_mode": "maximize", "start_step": 1}
    succeeded, late = ([0.8, 0.9], [0.7, 0.85]), [0.1, 0.2]
    nnis = MedianstopAssessor(**args)  # the killed loop's object saw them end
    for i, curve in enumerate(succeeded):
        nnis.assess_trial(f"t{i}", curve)
        nnis.trial_end(f"t{i}", True)
    assert nnis.assess_trial("late", late) is AssessResult.Bad
    source = ClassSource(
        section="assessor",
        class_name="Median",
        module="median",
        class_args=args,
        code_dir=tmp_path,
        class_file=tmp_path / "median.py",
    )
    resumed = assessor_class(source, "maximize")(AssessorOptions())
    as_losses = [[-x for x in curve] for curve in succeeded]  # as the loop's knowledge holds them
    verdict = resumed.assess_trial("late", [-x for x in late], as_losses)
    assert verdict is Verdict.STOP
    assert resumed.assess_trial("good", [-0.9, -0.95], as_losses) is Verdict.CONTINUE


def test_an_nni_builtin_that_loads_is_run_with_a_warning_that_nnis_code_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SMAC's, DNGO's and PPO's packages are not installed here, so the table gains NNI's
    RandomTuner under a name of its own: the real NNI class, loaded and checked as SMAC would be."""
    from nnifc import config
    from nnifc.nni_classes.builtins import NNI_TUNERS, Builtin

    random = Builtin("nni.algorithms.hpo.random_tuner", "RandomTuner", "")
    monkeypatch.setitem(NNI_TUNERS, "NniRandom", random)
    path = write_experiment(tmp_path, "tuner:\n  builtinTunerName: NniRandom\n")
    experiment = config.load(path)
    (warning,) = [w for w in experiment.warnings if "NNI's own code" in w]
    assert warning == (
        f"{path}: NniRandom runs NNI's own code (nni.algorithms.hpo.random_tuner.RandomTuner),"
        " not nnifc's"
    )
    tuner = experiment.tuner_class(experiment.space, experiment.tuner_options)
    proposed = tuner.propose([], [], np.random.default_rng(0))
    assert proposed is not None and 0 <= proposed["x"] <= 1
    custom = config.load(
        write_experiment(
            tmp_path, fixed_tuner([0.1], tmp_path / "t.log"), files={"fixed_tuner.py": FIXED_TUNER}
        )
    )
    assert not [w for w in custom.warnings if "NNI's own code" in w]  # a user's class: no warning
