"""Issue 19: PBTTuner: NNI's classArgs and checkpoint parameters, generations, exploit/explore,
rebuilding from the store after a restart, waiting between generations, the wrapper that makes
save_checkpoint_dir, and a run on the local platform with an unmodified `import nni` trial."""

from __future__ import annotations

import inspect
import json
import math
import os
import random
import re
import subprocess
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from nnifc import config
from nnifc.errors import ConfigError, PlatformError
from nnifc.records import Params, Result, TrialSpec
from nnifc.space import Branch, Choice, Normal, RandInt, SearchSpace, Uniform
from nnifc.stages import stages
from nnifc.store import experiment_dir
from nnifc.tuners import TUNERS
from nnifc.tuners.pbt import PbtOptions, PbtTuner, explore
from nnifc.wrapper import EXIT_NAME, SCRIPT, task_env
from tests.badinput_helpers import assert_accepted, assert_one_error
from tests.conftest import created_id, run_nnifc, status_json

LOAD, SAVE = "load_checkpoint_dir", "save_checkpoint_dir"
SPACE = SearchSpace({"x": Uniform(0.0, 1.0), "k": RandInt(1, 5), "opt": Choice(("a", "b", "c"))})


def make(space: SearchSpace = SPACE, shared: str | None = "/share", **class_args: Any) -> PbtTuner:
    tuner = PbtTuner(space, PbtOptions.model_validate(class_args))
    tuner.shared_dir = shared
    return tuner


def loss(params: Params) -> float:
    return float((params["x"] - 0.7) ** 2 + params["k"] / 10)


def fill(tuner: PbtTuner, history: list[Result], seed: int = 0) -> list[Params]:
    """Propose until the tuner waits (or a generation's worth), as the scheduler would."""
    pending: list[Params] = []
    while not (pending and tuner.wait(history, pending)) and len(pending) < 50:
        rng = np.random.default_rng([seed, len(history) + len(pending)])
        pending.append(tuner.propose(history, pending, rng))
    return pending


def where(params: Params) -> tuple[int, int]:
    generation, member = params[SAVE].split("/")[-2:]
    return int(generation), int(member)


# ---------------------------------------------------------------- classArgs


def test_registered_with_nnis_class_args_and_defaults() -> None:
    from nni.algorithms.hpo.pbt_tuner import PBTTuner as NniPbt

    assert TUNERS["PBTTuner"] is PbtTuner
    nni_defaults = {
        name: p.default for name, p in inspect.signature(NniPbt.__init__).parameters.items()
    }
    del nni_defaults["self"]
    ours = PbtOptions()
    assert PbtTuner.default_optimize_mode == nni_defaults.pop("optimize_mode") == "maximize"
    assert {name: getattr(ours, name) for name in nni_defaults} == nni_defaults
    assert PbtTuner.added_keys == {LOAD, SAVE} and PbtTuner.learns_unfinished


@pytest.mark.parametrize(
    "class_args",
    [
        {"all_checkpoint_dir": "checkpoints"},  # trials run elsewhere: relative means nothing
        {"all_checkpoint_dir": "~/nni/checkpoint"},
        {"population_size": 0},
        {"population_size": 2.0},
        {"fraction": 1.5},
        {"resample_probability": -0.1},
        {"factor": -1.0},
        {"factors": 0.2},
    ],
)
def test_bad_class_args_are_refused(class_args: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        PbtOptions.model_validate(class_args)


def write_config(tmp_path: Path, class_args: str) -> Path:
    (tmp_path / "code").mkdir(exist_ok=True)
    (tmp_path / "space.json").write_text('{"x": {"_type": "uniform", "_value": [0, 1]}}')
    config = tmp_path / "exp.yml"
    config.write_text(
        "experimentName: t\ntrialConcurrency: 1\nmaxTrialNum: 3\n"
        "trainingServicePlatform: local\nsearchSpacePath: space.json\n"
        f"tuner:\n  builtinTunerName: PBTTuner\n  classArgs:\n    {class_args}\n"
        "trial:\n  command: python3 trial.py\n  codeDir: code\n"
    )
    return config


def dry_run(config: Path) -> Any:
    from nnifc.cli import cli

    return CliRunner().invoke(cli, ["create", "--config", str(config), "--dry-run"])


def test_a_pbt_config_is_accepted_and_a_bad_one_named_by_line(home: Path, tmp_path: Path) -> None:
    good = "{optimize_mode: maximize, all_checkpoint_dir: /data/ck, population_size: 4, factor: 0.3, resample_probability: 0.1, fraction: 0.25}"
    assert_accepted(dry_run(write_config(tmp_path, good)), home)
    config = write_config(tmp_path, "all_checkpoint_dir: ck")
    assert_one_error(
        dry_run(config),
        home,
        f"Error: {config}:9:5: tuner.classArgs.all_checkpoint_dir: ",
        "must be an absolute path that every trial can read and write",
    )


# ---------------------------------------------------------------- generations


def test_generation_0_then_wait_then_generation_1() -> None:
    tuner = make(population_size=4)
    pending = fill(tuner, [])
    assert [where(p) for p in pending] == [(0, m) for m in range(4)]
    for m, params in enumerate(pending):
        assert params[SAVE] == params[LOAD] == f"/share/checkpoint/0/{m}"  # NNI: own, empty
        assert SPACE.contains({k: v for k, v in params.items() if k not in (LOAD, SAVE)})
    assert [s.generation for s in stages(pending)] == [0, 0, 0, 0]
    history = [Result(p, loss(p)) for p in pending[:3]]
    assert tuner.wait(history, pending[3:])  # one member still running: gen 1 cannot start
    history.append(Result(pending[3], loss(pending[3])))
    assert not tuner.wait(history, [])
    generation_1 = fill(tuner, history)
    assert [where(p) for p in generation_1] == [(1, m) for m in range(4)]
    assert tuner.wait(history, generation_1) and not tuner.wait(history, generation_1[1:])


def test_root_is_all_checkpoint_dir_else_the_shared_dir() -> None:
    rng = np.random.default_rng(0)
    assert make(shared="/tmp/mount/nni/e1/shared/").propose([], [], rng)[SAVE] == (
        "/tmp/mount/nni/e1/shared/checkpoint/0/0"
    )
    ours = make(all_checkpoint_dir="/data/ck/").propose([], [], rng)
    assert ours[SAVE] == "/data/ck/0/0"
    with pytest.raises(PlatformError, match="all_checkpoint_dir"):
        make(shared=None).propose([], [], rng)


def test_trials_of_another_root_or_member_count_for_nothing() -> None:
    tuner = make(population_size=2)
    strangers = [
        Result({"x": 0.1, "k": 1, "opt": "a", SAVE: "/elsewhere/0/0", LOAD: "/elsewhere/0/0"}, 0.0),
        Result({"x": 0.1, "k": 1, "opt": "a", SAVE: "/share/checkpoint/0/7"}, 0.0),
        Result({"x": 0.1, "k": 1, "opt": "a"}, 0.0),  # imported with `nnifc import`
    ]
    assert [where(p) for p in fill(tuner, strangers)] == [(0, 0), (0, 1)]


# ---------------------------------------------------------------- exploit and explore


def finished_generation(tuner: PbtTuner, losses: list[float]) -> list[Result]:
    return [Result(p, x) for p, x in zip(fill(tuner, []), losses, strict=True)]


def test_the_worst_fraction_takes_a_best_members_checkpoint_and_the_rest_go_on() -> None:
    losses = [0.5, 0.1, 0.9, 0.2, math.inf]  # member 4 failed: it ranks last
    picked: set[int] = set()
    for seed in range(20):
        tuner = make(population_size=5, fraction=0.4, resample_probability=0.0)  # cutoff 2
        parents = finished_generation(tuner, losses)
        children = fill(tuner, parents, seed=seed)
        for member, child in enumerate(children):
            assert child[SAVE] == f"/share/checkpoint/1/{member}"
            parent = parents[member].params
            if member in (2, 4):  # the worst two exploit the best two (members 1 and 3)
                top = int(child[LOAD].rsplit("/", 1)[1])
                assert top in (1, 3)
                picked.add(top)
                assert child["x"] == pytest.approx(
                    min(parents[top].params["x"] + 0.2, 1.0)
                ) or child["x"] == pytest.approx(max(parents[top].params["x"] - 0.2, 0.0))
                assert abs(child["k"] - parents[top].params["k"]) <= 1
            else:
                assert child[LOAD] == parent[SAVE]
                assert {k: child[k] for k in SPACE} == {k: parent[k] for k in SPACE}
    assert picked == {1, 3}


def nni_outcomes(
    spec: dict[str, Any], value: Any, factor: float, resample: float, seed: int
) -> set[Any]:
    """What NNI's own exploit_and_explore makes of one value, over many draws."""
    from nni.algorithms.hpo.pbt_tuner import TrialInfo, exploit_and_explore

    state = random.getstate()
    random.seed(seed)  # NNI draws from the random module
    found = set()
    for _ in range(200):
        top = TrialInfo("/t", {"p": value, LOAD: "/t/0", SAVE: "/t/0"})
        bottom = TrialInfo("/b", {})
        exploit_and_explore(bottom, top, factor, resample, 1, {"p": spec})
        assert bottom.hyper_parameters is not None
        found.add(round(float(bottom.hyper_parameters["p"]), 9))
    random.setstate(state)
    return found


@pytest.mark.parametrize(
    ("spec", "param", "value"),
    [
        ({"_type": "choice", "_value": [1, 2, 3, 4]}, Choice((1, 2, 3, 4)), 2),
        ({"_type": "choice", "_value": [1, 2, 3, 4]}, Choice((1, 2, 3, 4)), 4),
        ({"_type": "randint", "_value": [0, 10]}, RandInt(0, 10), 9),
        ({"_type": "uniform", "_value": [0, 10]}, Uniform(0.0, 10.0), 3.0),
        ({"_type": "uniform", "_value": [0, 10]}, Uniform(0.0, 10.0), 9.5),
        ({"_type": "quniform", "_value": [0, 10, 2]}, Uniform(0.0, 10.0, q=2.0), 4.0),
        ({"_type": "loguniform", "_value": [1e-4, 1]}, Uniform(1e-4, 1.0, log=True), 1e-2),
        ({"_type": "qloguniform", "_value": [1, 100, 5]}, Uniform(1.0, 100.0, 5.0, True), 50.0),
        ({"_type": "normal", "_value": [0, 2]}, Normal(0.0, 2.0), 1.0),
        ({"_type": "qnormal", "_value": [0, 2, 0.5]}, Normal(0.0, 2.0, q=0.5), 1.5),
        ({"_type": "lognormal", "_value": [0, 1]}, Normal(0.0, 1.0, log=True), 2.0),
        ({"_type": "qlognormal", "_value": [0, 1, 1]}, Normal(0.0, 1.0, 1.0, True), 3.0),
    ],
)
def test_a_step_goes_where_nnis_goes(spec: dict[str, Any], param: Any, value: Any) -> None:
    space = SearchSpace({"p": param})
    options = PbtOptions(factor=0.3, resample_probability=0.0)
    ours = {
        round(float(explore(space, {"p": value}, options, np.random.default_rng(s))["p"]), 9)
        for s in range(200)
    }
    assert ours == nni_outcomes(spec, value, 0.3, 0.0, seed=1)


def test_resampling_draws_from_the_space_and_nested_choices_stay_valid() -> None:
    space = SearchSpace(
        {
            "lr": Uniform(1e-4, 1.0, log=True),
            "layer": Choice(
                (
                    Branch(
                        "conv", SearchSpace({"k": Choice((1, 3, 5)), "gain": Uniform(0.0, 1.0)})
                    ),
                    Branch("empty", SearchSpace({})),
                )
            ),
        }
    )
    start = {"lr": 0.01, "layer": {"_name": "conv", "k": 3, "gain": 0.5}}
    for probability in (0.0, 0.5, 1.0):
        options = PbtOptions(resample_probability=probability)
        values = [explore(space, start, options, np.random.default_rng(s)) for s in range(100)]
        assert all(space.contains(v) for v in values)
        lrs = {round(v["lr"], 12) for v in values}
        steps = {round(0.01 * math.exp(s * 0.2 * math.log(1e4)), 12) for s in (1, -1)}
        assert (lrs <= steps) == (probability == 0.0)


# ---------------------------------------------------------------- restart and waiting


def run(
    tuner_for: Callable[[], PbtTuner], trials: int, concurrency: int, seed: int
) -> tuple[list[Params], list[bool]]:
    """The scheduler's loop with a fresh tuner (or the same) at every step: proposals in
    order, and whether each step found the tuner waiting."""
    order = np.random.default_rng(seed)
    history: list[Result] = []
    pending: list[Params] = []
    proposed: list[Params] = []
    waits: list[bool] = []
    while len(history) < trials:
        tuner = tuner_for()
        if len(proposed) < trials and len(pending) < concurrency:  # a free slot
            waits.append(bool(pending) and tuner.wait(history, pending))
            if not waits[-1]:
                rng = np.random.default_rng([seed, len(proposed)])
                proposed.append(tuner.propose(history, pending, rng))
                pending.append(proposed[-1])
                continue
        done = pending.pop(int(order.integers(len(pending))))
        history.append(Result(done, loss(done)))
    return proposed, waits


@pytest.mark.parametrize("concurrency", [1, 3, 8])
def test_a_rebuilt_tuner_proposes_what_the_first_would_have(concurrency: int) -> None:
    same = make(population_size=4, fraction=0.5)
    uninterrupted = run(lambda: same, 16, concurrency, seed=concurrency)
    rebuilt = run(lambda: make(population_size=4, fraction=0.5), 16, concurrency, seed=concurrency)
    assert rebuilt == uninterrupted
    generations = [where(p)[0] for p in uninterrupted[0]]
    assert generations == sorted(generations) == [g for g in range(4) for _ in range(4)]
    assert any(uninterrupted[1]) == (concurrency > 1)  # more slots than a generation's rest


def test_a_generation_starts_only_once_the_whole_previous_one_ended() -> None:
    tuner = make(population_size=3)
    order = np.random.default_rng(5)
    history: list[Result] = []
    pending: list[Params] = []
    for _ in range(30):
        while len(pending) < 5 and not (pending and tuner.wait(history, pending)):
            params = tuner.propose(history, pending, np.random.default_rng(len(history)))
            generation = where(params)[0]
            if generation > 0:  # the whole previous generation has ended
                assert sum(where(r.params)[0] == generation - 1 for r in history) == 3
            assert all(where(p)[0] == generation for p in pending)
            pending.append(params)
        assert len(pending) <= 3
        done = pending.pop(int(order.integers(len(pending))))
        history.append(Result(done, loss(done)))


# ---------------------------------------------------------------- the task wrapper


def wrap(tmp_path: Path, params: Params, command: str) -> tuple[int, str]:
    spec = TrialSpec("exp00001", "trial", 0, 0, params)
    (tmp_path / "code").mkdir(exist_ok=True)
    env = task_env(
        spec,
        sys_dir=tmp_path / "trial",
        task="worker_0",
        command=command,
        workdir=tmp_path / "code",
        version_check=False,
    )
    env["PATH"] = os.environ["PATH"]
    done = subprocess.run(["sh", "-c", SCRIPT, "wrapper"], env=env, capture_output=True, timeout=60)
    return done.returncode, (tmp_path / "trial/output/worker_0/stdout").read_text()


def test_the_wrapper_makes_save_checkpoint_dir_before_the_command(tmp_path: Path) -> None:
    odd = "ck $(touch pwned) `touch pwned` {{FC_TASK_INDEX}} $$ %s 'q\" \\x41\nnl é"
    save = tmp_path / odd / "3" / "1"
    code, log = wrap(tmp_path, {"x": 1, SAVE: f"{save}/"}, 'ls -d "$PWD" && echo ran')
    assert code == 0, log
    assert save.is_dir() and "ran" in log
    assert not list(tmp_path.rglob("pwned"))
    escaped = task_env(
        TrialSpec("e", "t", 0, 0, {SAVE: str(save)}),
        sys_dir=tmp_path,
        task="w",
        command="true",
        workdir=tmp_path,
    )["NNIFC_SAVE_DIR"]
    assert re.fullmatch(r"(\\[0-7]{3})+", escaped)  # nothing Kubernetes or FC would rewrite


def test_the_wrapper_makes_nothing_for_a_relative_or_missing_dir(tmp_path: Path) -> None:
    for params in ({SAVE: "relative/0/0"}, {SAVE: 3}, {"x": 1}):
        code, log = wrap(tmp_path, params, "true")
        assert code == 0, log
    assert sorted(p.name for p in tmp_path.iterdir()) == ["code", "trial"]
    assert not (tmp_path / "code" / "relative").exists()


def test_a_save_dir_that_cannot_be_made_fails_the_task_with_a_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    code, log = wrap(tmp_path, {SAVE: str(tmp_path / "file" / "0" / "0")}, "echo ran")
    assert code == 70
    assert f"nnifc: cannot create save_checkpoint_dir {tmp_path}/file/0/0" in log
    assert "ran" not in log
    assert (tmp_path / "trial/output/worker_0" / EXIT_NAME).read_text().strip() == "70"


# ---------------------------------------------------------------- end to end, real nni

PBT_TRIAL = """\
    import json
    import os

    import nni

    params = nni.get_next_parameter()
    model = {"steps": 0, "trained_by": []}
    load = os.path.join(params["load_checkpoint_dir"], "model.json")
    if os.path.isfile(load):
        with open(load) as f:
            model = json.load(f)
    print("LOADED=" + json.dumps(model["trained_by"]), flush=True)
    model["steps"] += 1
    model["trained_by"].append(nni.get_trial_id())
    with open(os.path.join(params["save_checkpoint_dir"], "model.json"), "w") as f:
        json.dump(model, f)
    nni.report_final_result(params["x"] * 10 + params["k"] + model["steps"])
"""


def test_pbt_on_the_local_platform_passes_the_checkpoints_it_chose(
    home: Path, experiment_files: Callable[..., Path]
) -> None:
    config = experiment_files(PBT_TRIAL, max_trials=9, concurrency=2, tuner="PBTTuner")
    text = config.read_text().replace("seed: 1}", "seed: 1, population_size: 3}")
    config.write_text(text)
    result = run_nnifc("create", "--config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    exp_id = created_id(result)
    trials = sorted(status_json(exp_id)["trials"], key=lambda t: t["sequence"])
    assert [t["status"] for t in trials] == ["SUCCEEDED"] * 9, trials
    root = experiment_dir(exp_id) / "shared" / "checkpoint"
    by_save: dict[str, dict[str, Any]] = {}
    for t in trials:
        logs = run_nnifc("logs", t["id"])
        t["loaded"] = json.loads(re.search(r"LOADED=(.*)", logs.stdout).group(1))  # type: ignore[union-attr]
        params = t["parameters"]
        saved = json.loads((Path(params[SAVE]) / "model.json").read_text())
        assert saved["trained_by"] == [*t["loaded"], t["id"]]
        by_save[params[SAVE]] = t
    generations: dict[int, list[dict[str, Any]]] = {}
    for t in trials:
        generation, member = where(t["parameters"])
        assert t["parameters"][SAVE] == f"{root}/{generation}/{member}"
        generations.setdefault(generation, []).append(t)
    assert sorted(generations) == [0, 1, 2]
    for generation, members in generations.items():
        assert sorted(where(t["parameters"])[1] for t in members) == [0, 1, 2]
        if generation == 0:
            assert all(t["loaded"] == [] for t in members)
            continue
        parents = {where(p["parameters"])[1]: p for p in generations[generation - 1]}
        best = max(parents, key=lambda m: (parents[m]["final"], -m))
        worst = min(parents, key=lambda m: (parents[m]["final"], -m))
        started = min(datetime.fromisoformat(t["started"]) for t in members)
        assert started >= max(datetime.fromisoformat(p["ended"]) for p in parents.values())
        for t in members:
            chosen = by_save[t["parameters"][LOAD]]  # the checkpoint PBT chose for it
            assert t["loaded"] == [*chosen["loaded"], chosen["id"]]
            member = where(t["parameters"])[1]
            assert where(chosen["parameters"])[1] == (best if member == worst else member)


def test_a_proposal_takes_under_2ms_with_1000_results() -> None:
    tuner = make()
    history: list[Result] = []
    while len(history) < 1000:
        params = tuner.propose(history, [], np.random.default_rng(len(history)))
        history.append(Result(params, loss(params)))
    took = []
    for i in range(20):
        start = time.perf_counter()
        tuner.propose(history, [], np.random.default_rng(i))
        took.append(time.perf_counter() - start)
    assert min(took) < 0.002


def test_an_assessor_beside_pbt_is_refused_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "space.json").write_text('{"x": {"_type": "uniform", "_value": [0, 1]}}')
    path = tmp_path / "exp.yml"
    path.write_text(
        "experimentName: pbt\n"
        "trialConcurrency: 2\n"
        "trainingServicePlatform: local\n"
        "searchSpacePath: space.json\n"
        "tuner: {builtinTunerName: PBTTuner, classArgs: {optimize_mode: maximize}}\n"
        "assessor: {builtinAssessorName: Medianstop}\n"
        "trial: {command: 'true', codeDir: .}\n"
    )
    with pytest.raises(ConfigError, match=r"exp\.yml:6:1: assessor: PBTTuner stops trials itself"):
        config.load(path)
