"""Issue 19: Hyperband, BOHB and ASHA advisors: NNI's bracket numbers, promotions, rebuilding
after a restart, BOHB's model, the config wiring and runs on the local platform with real nni."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from nnifc.advisors import ADVISORS, BUDGET_KEY
from nnifc.advisors.base import Schedule, config_of
from nnifc.advisors.bohb import Bohb, BohbOptions
from nnifc.records import Params, Result
from nnifc.space import RandInt, SearchSpace, Uniform
from nnifc.stages import LOAD_KEY, SAVE_KEY
from nnifc.stages import stages as stage_of
from tests.badinput_helpers import assert_accepted, assert_one_error
from tests.conftest import created_id, loop_pid, run_nnifc, status_json, trial_processes, wait_for

SPACE = SearchSpace({"x": Uniform(0.0, 1.0), "y": Uniform(0.0, 1.0), "k": RandInt(1, 5)})


def loss(params: Params) -> float:
    """Lower is better; more budget helps every config the same."""
    return float((params["x"] - 0.3) ** 2 + (params["y"] - 0.6) ** 2 + 1 / params[BUDGET_KEY])


def make(name: str, **class_args: Any) -> Any:
    cls = ADVISORS[name]
    return cls(SPACE, cls.Options.model_validate(class_args))


def frozen(params: Params) -> tuple[Any, ...]:
    return tuple(sorted(config_of(params).items()))


def simulate(
    advisor: Any, trials: int, concurrency: int, seed: int = 0
) -> tuple[list[Params], list[Result], list[Params]]:
    """Propose `trials`, finishing a random running one whenever all slots are busy."""
    order = np.random.default_rng(seed)
    proposed: list[Params] = []
    history: list[Result] = []
    pending: list[Params] = []
    for t in range(trials):
        params = advisor.propose(history, pending, np.random.default_rng([seed, t]))
        proposed.append(params)
        pending.append(params)
        if len(pending) >= concurrency:
            done = pending.pop(int(order.integers(len(pending))))
            history.append(Result(done, loss(done)))
    return proposed, history, pending


# ---------------------------------------------------------------- bracket arithmetic


def test_brackets_for_r81_eta3_are_nni_s_and_the_paper_s() -> None:
    from nni.algorithms.hpo.hyperband_advisor import Bracket

    schedule = Schedule.of(81, 3)
    assert schedule.s_max == 4
    assert schedule.rounds(4) == [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)]
    assert schedule.rounds(3) == [(34, 3), (11, 9), (3, 27), (1, 81)]
    assert schedule.rounds(2) == [(15, 9), (5, 27), (1, 81)]
    assert schedule.rounds(1) == [(8, 27), (2, 81)]
    assert schedule.rounds(0) == [(5, 81)]
    for R, eta in [(81, 3), (60, 3), (100, 2), (27, 4), (1, 3)]:
        ours = Schedule.of(R, eta)
        for s in range(ours.s_max + 1):
            nni = Bracket("0-0", s, ours.s_max, eta, R, "maximize")
            theirs = []
            for _ in range(s + 1):
                theirs.append(nni.get_n_r())
                nni.increase_i()
            assert ours.rounds(s) == theirs, (R, eta, s)


def test_bohb_budgets_are_nni_s() -> None:
    schedule = Schedule.of(27, 3, min_budget=1)  # NNI's BOHB example
    assert schedule.s_max == 3
    assert [r for _, r in schedule.rounds(3)] == [1, 3, 9, 27]
    assert Schedule.of(3, 3, min_budget=1).s_max == 1  # NNI's defaults: max 3, min 1


# ---------------------------------------------------------------- promotions


def test_hyperband_runs_a_bracket_then_restarts_the_best_third_with_more_budget() -> None:
    hyperband = make("Hyperband", R=9, eta=3)
    proposed, history, _ = simulate(hyperband, trials=9 + 3 + 1 + 5, concurrency=1)
    budgets = [p[BUDGET_KEY] for p in proposed]
    assert budgets == [1] * 9 + [3] * 3 + [9] + [3] * 5  # then bracket s=1: 5 at 3
    first = sorted(history[:9], key=lambda r: r.loss)
    assert [frozen(p) for p in proposed[9:12]] == [frozen(r.params) for r in first[:3]]
    second = sorted(history[9:12], key=lambda r: r.loss)
    assert frozen(proposed[12]) == frozen(second[0].params)


def test_hyperband_keeps_every_slot_busy_and_runs_no_config_twice_at_a_budget() -> None:
    proposed, _, _ = simulate(make("Hyperband", R=27, eta=3), trials=300, concurrency=8)
    runs = Counter((frozen(p), p[BUDGET_KEY]) for p in proposed)
    assert max(runs.values()) == 1
    assert {p[BUDGET_KEY] for p in proposed} == {1, 3, 9, 27}


def test_asha_promotes_as_soon_as_a_rung_has_eta_results() -> None:
    asha = make("ASHA", R=9, eta=3)
    history: list[Result] = []
    pending: list[Params] = []
    for t in range(5):
        pending.append(asha.propose(history, pending, np.random.default_rng(t)))
    assert [p[BUDGET_KEY] for p in pending] == [1] * 5
    for p in pending[:3]:
        history.append(Result(p, loss(p)))
    pending = pending[3:]
    promoted = asha.propose(history, pending, np.random.default_rng(9))
    best = min(history, key=lambda r: r.loss)
    assert promoted == {**config_of(best.params), BUDGET_KEY: 3}
    pending.append(promoted)
    again = asha.propose(history, pending, np.random.default_rng(10))
    assert again[BUDGET_KEY] == 1  # the best third (one of three) is already promoted


def test_an_asha_promotion_loads_the_checkpoint_of_the_trial_it_promotes() -> None:
    asha, again = make("ASHA", R=9, eta=3), make("ASHA", R=9, eta=3)
    asha.shared_dir = again.shared_dir = "/share/exp"
    history: list[Result] = []
    pending = [asha.propose(history, [], np.random.default_rng(t)) for t in range(3)]
    for p in pending:
        assert p[LOAD_KEY] == p[SAVE_KEY] and p[SAVE_KEY].startswith("/share/exp/checkpoint/asha/")
    assert len({p[SAVE_KEY] for p in pending}) == 3
    history = [Result(p, loss(p)) for p in pending]
    promoted = asha.propose(history, [], np.random.default_rng(9))
    best = min(history, key=lambda r: r.loss)
    assert config_of(promoted) == config_of(best.params) and promoted[BUDGET_KEY] == 3
    assert promoted[LOAD_KEY] == best.params[SAVE_KEY]
    assert promoted[SAVE_KEY] not in {p[SAVE_KEY] for p in pending}
    assert again.propose(history, [], np.random.default_rng(9)) == promoted  # after a resume
    following = asha.propose(history, [promoted], np.random.default_rng(10))
    assert following[BUDGET_KEY] == 1  # the promoted config is running: not promoted twice
    stages = [s.generation for s in stage_of([*pending, promoted, following])]
    assert stages == [None] * 5  # ASHA's directories name no PBT generation


def test_a_failed_trial_is_never_promoted() -> None:
    asha = make("ASHA", R=9, eta=3)
    rng = np.random.default_rng(0)
    history = [Result({**SPACE.sample(rng), BUDGET_KEY: 1}, float("inf")) for _ in range(6)]
    assert asha.propose(history, [], rng)[BUDGET_KEY] == 1


def test_asha_brackets_take_new_configs_in_turn_from_the_smallest_budget() -> None:
    asha, pending = make("ASHA", R=27, eta=3, brackets=4), list[Params]()
    for t in range(8):
        pending.append(asha.propose([], pending, np.random.default_rng(t)))
    assert [p[BUDGET_KEY] for p in pending] == [1, 3, 9, 27] * 2
    capped, pending = make("ASHA", R=9, eta=3, brackets=10), []
    for t in range(4):
        pending.append(capped.propose([], pending, np.random.default_rng(t)))
    assert [p[BUDGET_KEY] for p in pending] == [1, 3, 9, 1]  # one bracket per rung at most


def test_an_asha_bracket_promotes_among_its_own_configs() -> None:
    """A config promoted to 3 from the bracket that starts at 1 does not compete with the
    configs that started at 3, however good it is."""
    rng = np.random.default_rng(0)
    a, b, c, d, e, f = (SPACE.sample(rng) for _ in range(6))
    history = [Result({**p, BUDGET_KEY: 1}, v) for p, v in ((a, 0.2), (b, 0.3), (c, 0.4))]
    history.append(Result({**a, BUDGET_KEY: 3}, 0.1))
    history += [Result({**p, BUDGET_KEY: 3}, v) for p, v in ((d, 0.5), (e, 0.6), (f, 0.7))]
    bracketed = make("ASHA", R=27, eta=3, brackets=2)
    assert bracketed.propose(history, [], rng) == {**d, BUDGET_KEY: 9}
    assert make("ASHA", R=27, eta=3, brackets=2).propose(history, [], rng) == {**d, BUDGET_KEY: 9}
    assert make("ASHA", R=27, eta=3).propose(history, [], rng) == {**a, BUDGET_KEY: 9}


def test_asha_with_tpe_learns_from_the_largest_budget_only() -> None:
    """Small budgets say x near 0.9 is best, the largest says x near 0.1: new configs follow
    the largest budget, as on the benchmark's `misleading` problem."""
    rng = np.random.default_rng(1)
    history = [
        Result({**p, BUDGET_KEY: 1}, (p["x"] - 0.9) ** 2)
        for p in (SPACE.sample(rng) for _ in range(60))
    ]
    history += [
        Result({**p, BUDGET_KEY: 27}, (p["x"] - 0.1) ** 2)
        for p in (SPACE.sample(rng) for _ in range(20))
    ]
    modelled = make("ASHA", R=27, eta=3, sampler="tpe")
    drawn = [modelled.new_config(history, [], np.random.default_rng(t))["x"] for t in range(30)]
    assert np.median(np.abs(np.array(drawn) - 0.1)) < 0.1
    plain = make("ASHA", R=27, eta=3)
    drawn = [plain.new_config(history, [], np.random.default_rng(t))["x"] for t in range(30)]
    assert np.median(np.abs(np.array(drawn) - 0.1)) > 0.2


# ---------------------------------------------------------------- rebuilt after a restart


@pytest.mark.parametrize("name", sorted(ADVISORS))
@pytest.mark.parametrize("concurrency", [1, 3, 8])
def test_a_rebuilt_advisor_proposes_what_the_first_would_have(name: str, concurrency: int) -> None:
    args = {"max_budget": 9} if name == "BOHB" else {"R": 9}
    for cut in (7, 20, 41):
        _, history, pending = simulate(make(name, **args), cut, concurrency, seed=cut)
        first = make(name, **args)
        first.propose(history[: len(history) // 2], [], np.random.default_rng(1))  # warm caches
        rng_state = [cut, 99]
        expected = first.propose(history, pending, np.random.default_rng(rng_state))
        rebuilt = make(name, **args)  # the launcher died: only the store's history is left
        again = rebuilt.propose(list(history), list(pending), np.random.default_rng(rng_state))
        assert again == expected


def test_bohb_uses_its_model_once_a_budget_has_min_points_in_model_results() -> None:
    bohb = Bohb(SPACE, BohbOptions(max_budget=9, random_fraction=0.0, min_points_in_model=6))
    rng = np.random.default_rng(3)
    results = []
    for _ in range(30):
        params = {**SPACE.sample(rng), BUDGET_KEY: 9}
        results.append(Result(params, loss(params)))
    assert bohb.model(results[:5]) is None
    assert bohb.model(results) is not None
    drawn = [bohb.new_config(results, 1, np.random.default_rng(s)) for s in range(40)]
    prior = [SPACE.sample(np.random.default_rng(s)) for s in range(40)]

    def distance(p: Params) -> float:
        return float((p["x"] - 0.3) ** 2 + (p["y"] - 0.6) ** 2)

    assert np.median([distance(p) for p in drawn]) < 0.5 * np.median([distance(p) for p in prior])
    assert all(SPACE.contains(p) for p in drawn)
    before = bohb.new_config(results[:5], 1, np.random.default_rng(0))
    assert before == SPACE.sample(np.random.default_rng(0)) | {} or SPACE.contains(before)


def test_a_proposal_takes_under_2ms_with_1000_results() -> None:
    for name in sorted(ADVISORS):
        args = {"max_budget": 81} if name == "BOHB" else {"R": 81}
        advisor = make(name, **args)
        _, history, pending = simulate(advisor, 1007, concurrency=8)
        assert len(history) == 1000
        advisor.propose(history, pending, np.random.default_rng(0))
        took = []
        for i in range(21):  # CPU time: the machine running the tests may be busy
            start = time.thread_time()
            advisor.propose(history, pending, np.random.default_rng(i))
            took.append(time.thread_time() - start)
        assert float(np.median(took)) < 0.002, (name, sorted(took))


# Digests of every proposal in `pinned_run` as the advisors made them before their speedups:
# a faster proposal must make the same decisions (ties, failures and both orders included).
PINNED = {
    ("ASHA", 1): "822d8b04d1fdd513",
    ("ASHA", 8): "931234590a460a20",
    ("Hyperband", 1): "c41c1c535c33ba0c",
    ("Hyperband", 8): "f9f2e5d8ebd6436c",
    ("BOHB", 1): "544b737962b26f8b",
    ("BOHB", 8): "27d9002fb54bc211",
}


def pinned_run(name: str, concurrency: int, trials: int = 1000) -> str:
    """Proposals while results come back out of order; losses rounded (ties) and failures."""
    advisor = make(name, **({"max_budget": 27} if name == "BOHB" else {"R": 27}))
    order = np.random.default_rng(11)
    proposed: list[Params] = []
    history: list[Result] = []
    pending: list[Params] = []
    for t in range(trials):
        params = advisor.propose(history, pending, np.random.default_rng([11, t]))
        proposed.append(params)
        pending.append(params)
        while len(pending) >= concurrency:
            done = pending.pop(int(order.integers(len(pending))))
            failed = done["x"] > 0.9
            history.append(Result(done, float("inf") if failed else round(loss(done), 2)))
    text = json.dumps(proposed, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@pytest.mark.parametrize(("name", "concurrency"), sorted(PINNED))
def test_proposals_are_the_pinned_ones(name: str, concurrency: int) -> None:
    assert pinned_run(name, concurrency) == PINNED[name, concurrency]


def test_a_proposal_takes_under_2ms_with_1000_results_while_results_keep_coming() -> None:
    """As in a run: one more result between proposals, so caches must grow, not be rebuilt."""
    for name in sorted(ADVISORS):
        advisor = make(name, **({"max_budget": 27} if name == "BOHB" else {"R": 27}))
        order = np.random.default_rng(0)
        history: list[Result] = []
        pending: list[Params] = []
        took = []
        for t in range(1100):
            start = time.thread_time()
            params = advisor.propose(history, pending, np.random.default_rng([0, t]))
            if len(history) >= 1000:
                took.append(time.thread_time() - start)
            pending.append(params)
            if len(pending) >= 8:
                done = pending.pop(int(order.integers(len(pending))))
                history.append(Result(done, loss(done)))
        assert float(np.median(took)) < 0.002, (name, sorted(took))


# ---------------------------------------------------------------- the config


def write_config(tmp_path: Path, advisor: str, extra: str = "") -> Path:
    (tmp_path / "code").mkdir(exist_ok=True)
    (tmp_path / "code" / "trial.py").write_text("print(1)\n")
    (tmp_path / "space.json").write_text('{"x": {"_type": "uniform", "_value": [0, 1]}}')
    config = tmp_path / "exp.yml"
    config.write_text(
        "experimentName: t\ntrialConcurrency: 1\nmaxTrialNum: 3\n"
        "trainingServicePlatform: local\nsearchSpacePath: space.json\n"
        + advisor
        + extra
        + "trial:\n  command: python3 trial.py\n  codeDir: code\n"
    )
    return config


def dry_run(config: Path) -> Any:
    from nnifc.cli import cli

    return CliRunner().invoke(cli, ["create", "--config", str(config), "--dry-run"])


def test_an_advisor_config_is_accepted(home: Path, tmp_path: Path) -> None:
    for advisor in (
        "advisor:\n  builtinAdvisorName: Hyperband\n  classArgs: {R: 27, eta: 3}\n",
        "advisor:\n  builtinAdvisorName: BOHB\n  classArgs: {min_budget: 1, max_budget: 27,"
        " eta: 3, min_points_in_model: 7, top_n_percent: 15, num_samples: 64,"
        " random_fraction: 0.33, bandwidth_factor: 3.0, min_bandwidth: 0.001}\n",
        "advisor:\n  builtinAdvisorName: ASHA\n",
    ):
        assert_accepted(dry_run(write_config(tmp_path, advisor)), home)


@pytest.mark.parametrize(
    ("advisor", "extra", "where", "message"),
    [
        (
            "advisor:\n  builtinAdvisorName: Hyperband\n",
            "tuner:\n  builtinTunerName: TPE\n",
            "6:1: advisor: ",
            "an advisor replaces the tuner, as in NNI; remove tuner or advisor",
        ),
        (
            "advisor:\n  builtinAdvisorName: Hyperband\n",
            "assessor:\n  builtinAssessorName: Medianstop\n",
            "6:1: advisor: ",
            "replaces the assessor",
        ),
        (
            "advisor:\n  builtinAdvisorName: HyperBand\n",
            "",
            "7:3: advisor.builtinAdvisorName: ",
            "unknown advisor \"HyperBand\"; did you mean 'Hyperband'?",
        ),
        (
            "advisor:\n  builtinAdvisorName: Hyperband\n  classArgs:\n    eta: 1\n",
            "",
            "9:5: advisor.classArgs.eta: ",
            "must be >= 2, got 1",
        ),
        (
            "advisor:\n  builtinAdvisorName: BOHB\n  classArgs: {min_budget: 9, max_budget: 3}\n",
            "",
            "8:3: advisor.classArgs: ",
            "max_budget (3) must be larger than min_budget (9)",
        ),
        (
            "advisor:\n  builtinAdvisorName: Hyperband\n  classArgs: {exec_mode: fast}\n",
            "",
            "8:15: advisor.classArgs.exec_mode: ",
            "must be one of 'serial' or 'parallelism', got \"fast\"",
        ),
    ],
)
def test_a_bad_advisor_config_names_file_line_and_key(
    home: Path, tmp_path: Path, advisor: str, extra: str, where: str, message: str
) -> None:
    config = write_config(tmp_path, advisor, extra)
    assert_one_error(dry_run(config), home, f"Error: {config}:{where}", message)


# ---------------------------------------------------------------- end to end, real nni

BUDGET_TRIAL = """\
    import time
    import nni

    params = nni.get_next_parameter()
    budget = params["TRIAL_BUDGET"]
    for epoch in range(budget):
        time.sleep(SLEEP)
        nni.report_intermediate_result(params["x"] * (epoch + 1))
    nni.report_final_result(params["x"] * budget)
"""


def advisor_files(
    experiment_files: Callable[..., Path], advisor: str, trials: int, concurrency: int, sleep: float
) -> Path:
    config = experiment_files(
        BUDGET_TRIAL.replace("SLEEP", str(sleep)),
        max_trials=trials,
        concurrency=concurrency,
        space={"x": {"_type": "uniform", "_value": [0, 1]}},
    )
    text = config.read_text()
    tuner = text[text.index("tuner:") : text.index("trial:")]
    config.write_text(text.replace(tuner, advisor))
    return config


def test_hyperband_on_the_local_platform_with_an_unmodified_nni_trial(
    home: Path, experiment_files: Callable[..., Path]
) -> None:
    advisor = "advisor:\n  builtinAdvisorName: Hyperband\n  classArgs: {R: 3, eta: 3}\n"
    config = advisor_files(experiment_files, advisor, trials=6, concurrency=2, sleep=0.0)
    result = run_nnifc("create", "--config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    trials = sorted(status_json(created_id(result))["trials"], key=lambda t: t["sequence"])
    assert [t["status"] for t in trials] == ["SUCCEEDED"] * 6
    budgets = [t["parameters"][BUDGET_KEY] for t in trials]
    assert budgets == [1, 1, 1, 3, 3, 3]  # bracket s=1: 3 at 1, its best at 3; s=0: 2 at 3
    for t in trials:
        budget = t["parameters"][BUDGET_KEY]
        assert len(t["intermediate"]) == budget
        assert t["final"] == pytest.approx(t["parameters"]["x"] * budget)
    best = max(trials[:3], key=lambda t: t["final"])
    at_3 = [t["parameters"] for t in trials if t["parameters"][BUDGET_KEY] == 3]
    assert at_3.count({**best["parameters"], BUDGET_KEY: 3}) == 1  # promoted: a new trial


def test_killed_mid_bracket_and_resumed_loses_nothing_and_repeats_nothing(
    home: Path, experiment_files: Callable[..., Path]
) -> None:
    advisor = "advisor:\n  builtinAdvisorName: Hyperband\n  classArgs: {R: 9, eta: 3}\n"
    config = advisor_files(experiment_files, advisor, trials=14, concurrency=3, sleep=0.3)
    exp_id = created_id(run_nnifc("create", "--config", str(config), "--detach"))
    wait_for(
        lambda: len(status_json(exp_id)["trials"]) >= 5 and len(trial_processes(exp_id)) >= 2,
        timeout=60,
        what="a bracket half done",
    )
    os.kill(loop_pid(exp_id), signal.SIGKILL)
    before = {t["id"] for t in status_json(exp_id)["trials"]}
    resumed = run_nnifc("resume", exp_id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    trials = sorted(status_json(exp_id)["trials"], key=lambda t: t["sequence"])
    assert before <= {t["id"] for t in trials}
    assert [t["status"] for t in trials] == ["SUCCEEDED"] * 14
    runs = Counter((t["parameters"]["x"], t["parameters"][BUDGET_KEY]) for t in trials)
    assert max(runs.values()) == 1  # no trial repeated
    x_at = {
        b: [t["parameters"]["x"] for t in trials if t["parameters"][BUDGET_KEY] == b]
        for b in (1, 3)
    }
    assert len(x_at[1]) == 9  # bracket s=2's first round, then no other bracket starts at 1
    first = sorted(
        (t for t in trials if t["parameters"][BUDGET_KEY] == 1), key=lambda t: -t["final"]
    )
    promoted = set(x_at[3]) & set(x_at[1])
    assert promoted == {t["parameters"]["x"] for t in first[:3]}  # no result lost


CONTINUING_TRIAL = """\
    import json, os
    import nni
    params = nni.get_next_parameter()
    budget = params["TRIAL_BUDGET"]
    state = os.path.join(params["load_checkpoint_dir"], "state.json")
    done = json.load(open(state))["epochs"] if os.path.exists(state) else 0
    for epoch in range(done, budget):
        nni.report_intermediate_result(params["x"] * (epoch + 1))
    with open(os.path.join(params["save_checkpoint_dir"], "state.json"), "w") as f:
        json.dump({"epochs": budget}, f)
    with open(os.environ["NNI_OUTPUT_DIR"] + "/continued.json", "w") as f:
        json.dump({"from": done, "to": budget}, f)
    nni.report_final_result(params["x"] * budget)
"""


@pytest.mark.parametrize(
    "class_args", ["{R: 9, eta: 3}", "{R: 9, eta: 3, brackets: 2, sampler: tpe, n_startup: 2}"]
)
def test_asha_promotions_continue_from_the_promoted_trials_checkpoint(
    home: Path, experiment_files: Callable[..., Path], class_args: str
) -> None:
    config = experiment_files(
        CONTINUING_TRIAL,
        max_trials=8,
        concurrency=2,
        space={"x": {"_type": "uniform", "_value": [0, 1]}},
    )
    text = config.read_text()
    tuner = text[text.index("tuner:") : text.index("trial:")]
    config.write_text(
        text.replace(tuner, f"advisor:\n  builtinAdvisorName: ASHA\n  classArgs: {class_args}\n")
    )
    result = run_nnifc("create", "--config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    exp_id = created_id(result)
    trials = sorted(status_json(exp_id)["trials"], key=lambda t: t["sequence"])
    assert [t["status"] for t in trials] == ["SUCCEEDED"] * 8
    by_save = {t["parameters"][SAVE_KEY]: t for t in trials}
    new = [t for t in trials if t["parameters"][LOAD_KEY] == t["parameters"][SAVE_KEY]]
    expected_starts = {1, 3} if "brackets" in class_args else {1}
    assert {t["parameters"][BUDGET_KEY] for t in new} == expected_starts
    assert len(new) < len(trials), [t["parameters"] for t in trials]  # some were promoted
    for t in trials:
        out = home / "experiments" / exp_id / "trials" / t["id"] / "output"
        ran = json.loads(next(out.rglob("continued.json")).read_text())
        source = by_save.get(t["parameters"][LOAD_KEY])
        assert source is not None
        begun = 0 if source is t else source["parameters"][BUDGET_KEY]
        assert ran == {"from": begun, "to": t["parameters"][BUDGET_KEY]}
        assert len(t["intermediate"]) == ran["to"] - ran["from"]  # only the epochs it added
