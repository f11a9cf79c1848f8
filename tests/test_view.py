"""What `status EXP`, the experiments list and the live view print, at 80, 120 and 200 columns.

Rendered by rich's recording console from real store rows: many trials, failure messages of a
few hundred characters, parameters longer than any terminal line. The columns a person acts on
(id, seq, status, final) must show whole at every width; the parameters give way.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from typing import Any

import pytest
from rich.cells import cell_len
from rich.console import Console, RenderableType

from nnifc.budget import plural
from nnifc.cli.console import show
from nnifc.header import ExperimentHeader
from nnifc.live_view import LiveView
from nnifc.records import ExperimentStatus, TrialStatus
from nnifc.store import ExperimentRow, TrialRow
from nnifc.trials_view import TrialsTable, trial_line
from nnifc.view import ExperimentsTable, number, params_text

NOW = 1_800_000_000.0
WIDTHS = (80, 120, 200)
FAILURE = (
    'exit code 2: Traceback (most recent call last): File "/work/code/train.py", line 88, in '
    '<module> main(args) File "/work/code/train.py", line 61, in main model.fit(x, y) '
    "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 15.78 GiB total "
    "capacity; 12.41 GiB already allocated; 1.20 GiB free; 13.02 GiB reserved in total by "
    "PyTorch) [red]not markup[/red]"
)
LONG_PARAMS: dict[str, Any] = {
    "optimizer": {"_name": "adamw", "lr": 0.000312345, "betas": "0.9,0.999", "eps": 1e-8},
    "hidden_layers": 4,
    "hidden_size": 1024,
    "dropout": 0.123456,
    "activation": "gelu-with-a-long-descriptive-name",
    "augmentation": "[bold]random-crop+flip+colour-jitter[/bold]",
}


def experiment(**changes: Any) -> ExperimentRow:
    row = ExperimentRow(
        id="k3q9x0ab",
        name="digits-quickstart",
        platform="local",
        config_path="exp.yml",
        config_text="",
        space_text="{}",
        seed=7,
        optimize_mode="maximize",
        max_trials=100,
        max_seconds=3600,
        status=ExperimentStatus.RUNNING,
        started=NOW - 600,
        ended=None,
        pid=None,
        stop_requested=False,
        message="",
        concurrency=3,
    )
    return ExperimentRow(**{**row.__dict__, **changes})


def trial(
    sequence: int,
    status: TrialStatus = TrialStatus.SUCCEEDED,
    *,
    final: float | None = None,
    message: str = "",
    params: dict[str, Any] | None = None,
    intermediate: tuple[float | None, ...] = (),
) -> TrialRow:
    started = NOW - 590 + 9 * sequence
    return TrialRow(
        id=f"{sequence:03d}{'abcdefghij'[sequence % 10]}z",
        sequence=sequence,
        parameter_id=sequence,
        params=params if params is not None else {**LONG_PARAMS, "seed": sequence},
        status=status,
        handle=None,
        created=started,
        started=None if status is TrialStatus.WAITING else started,
        ended=started + 8 if status.final else None,
        exit_code=2 if status is TrialStatus.FAILED else None,
        message=message,
        final=final,
        final_raw=None if final is None else repr(final),
        intermediate=intermediate,
    )


def many_trials() -> list[TrialRow]:
    """60 trials: most succeeded, some failed with long messages, NaN, early stopped, 3 live."""
    trials = []
    for seq in range(60):
        if seq % 11 == 3:
            trials.append(trial(seq, TrialStatus.FAILED, message=FAILURE))
        elif seq % 13 == 5:
            trials.append(trial(seq, final=math.nan, message="final metric is NaN"))
        elif seq % 17 == 7:
            trials.append(trial(seq, TrialStatus.EARLY_STOPPED, intermediate=(0.1, 0.12)))
        else:
            trials.append(trial(seq, final=0.5 + (seq * 37 % 60) / 1000, intermediate=(0.3, 0.4)))
    trials[57] = trial(57, TrialStatus.RUNNING, intermediate=(0.25,))
    trials[58] = trial(58, TrialStatus.RUNNING)
    trials[59] = trial(59, TrialStatus.WAITING)
    return trials


def render(renderable: RenderableType, width: int, height: int = 50) -> list[str]:
    console = Console(record=True, width=width, height=height, file=io.StringIO())
    console.print(renderable)
    return console.export_text().splitlines()


def row_of(lines: Sequence[str], t: TrialRow) -> str:
    (line,) = [line for line in lines if line.startswith(t.id + " ")]
    return line


def assert_whole(row: str, t: TrialRow) -> None:
    """id, seq, status and final are on the row, whole, before anything cut short."""
    match = re.match(rf"{t.id} +{t.sequence} +{t.status.value}( |$)", row)
    assert match, row
    if t.final is not None:
        assert f" {number(t.final)} " in row + " ", row
    head = row.split("{", 1)[0]
    assert "…" not in head, row


def squeezed(text: str) -> str:
    return "".join(text.split())


@pytest.mark.parametrize("width", WIDTHS)
def test_status_table_keeps_id_seq_status_final_whole_and_wraps_the_rest(width: int) -> None:
    trials = many_trials()
    lines = render(TrialsTable(trials, now=NOW), width)
    assert all(cell_len(line) <= width for line in lines)
    for t in trials:
        assert_whole(row_of(lines, t), t)
    text = squeezed("\n".join(lines))
    assert text.count(squeezed(FAILURE)) == sum(t.status is TrialStatus.FAILED for t in trials)
    for t in trials:  # every parameter of every trial, nothing elided
        assert squeezed(params_text(t.params)) in text
    assert "…" not in text


@pytest.mark.parametrize("width", WIDTHS)
def test_a_long_message_goes_under_its_row_and_leaves_the_columns_alone(width: int) -> None:
    failed = trial(3, TrialStatus.FAILED, message=FAILURE * 3)
    lines = render(TrialsTable([trial(1, final=0.25), failed], now=NOW), width)
    row = row_of(lines, failed)
    assert_whole(row, failed)
    assert "Traceback" not in row  # the message has lines of its own
    under = lines[lines.index(row) + 1 :]
    assert squeezed(FAILURE * 3) in squeezed("\n".join(under))
    assert all(line.startswith(" ") for line in under)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("mode", ["maximize", "minimize"])
def test_live_view_fits_the_terminal_running_first_then_the_best(width: int, mode: str) -> None:
    height = {80: 30, 120: 40, 200: 50}[width]
    trials = many_trials()
    row = experiment(optimize_mode=mode)
    lines = render(LiveView(row, "RUNNING", trials, height=height, now=NOW), width, height)
    assert len(lines) < height  # a line left for the cursor: nothing scrolls away
    assert all(cell_len(line) <= width for line in lines)
    shown = [t for t in trials if any(line.startswith(t.id + " ") for line in lines)]
    for t in shown:
        assert_whole(row_of(lines, t), t)
        # the started column gives way before the parameters get too little room to read
        assert len(row_of(lines, t)[row_of(lines, t).index("{") :]) >= 16
    order = [line.split()[0] for line in lines if re.match(r"\d{3}[a-j]z ", line)]
    live = [t.id for t in trials if not t.status.final]
    assert order[: len(live)] == live
    scored = sorted(
        (t for t in trials if t.final is not None and math.isfinite(t.final)),
        key=lambda t: t.final or 0.0,
        reverse=mode == "maximize",
    )
    assert order[len(live) :] == [t.id for t in scored[: len(order) - len(live)]]
    assert len(order) >= height - 16  # the header and a few message lines; the rest are trials
    assert lines[-1] == f"… {len(trials) - len(order)} more: nnifc status {row.id}"


def test_live_view_says_nothing_is_hidden_when_all_fit_and_elides_parameters() -> None:
    trials = [trial(0, final=0.5), trial(1, TrialStatus.RUNNING)]
    lines = render(LiveView(experiment(), "RUNNING", trials, height=30, now=NOW), 80, 30)
    assert "more: nnifc status" not in "\n".join(lines)
    for t in trials:
        assert row_of(lines, t).endswith("…")  # one line each: the parameters are cut


def test_live_view_cuts_a_long_message_to_two_lines() -> None:
    trials = [trial(0, TrialStatus.FAILED, message=FAILURE * 3), trial(1, final=0.5)]
    lines = render(LiveView(experiment(), "RUNNING", trials, height=30, now=NOW), 80, 30)
    assert lines.index(row_of(lines, trials[1])) < lines.index(row_of(lines, trials[0]))
    row = lines.index(row_of(lines, trials[0]))  # the last: a failure has no final to rank by
    assert [line[:12].strip() for line in lines[row + 1 :]] == ["", ""]
    assert lines[-1].startswith(" " * 12 + "exit code 2: Traceback") is False
    assert lines[-2].startswith(" " * 12 + "exit code 2: Traceback") and lines[-1].endswith("…")


def header_text(
    row: ExperimentRow, status: str, trials: Sequence[TrialRow], width: int = 120
) -> str:
    lines = render(ExperimentHeader(row, status, trials, now=NOW), width)
    return "\n".join(line.rstrip() for line in lines)  # rich pads a grid to the width


def line_with(text: str, label: str) -> str:
    (line,) = [line for line in text.splitlines() if line.startswith(label + " ")]
    return line


@pytest.mark.parametrize("width", WIDTHS)
def test_header_bars_show_trials_and_time_spent_with_an_eta(width: int) -> None:
    trials = [trial(i, final=0.5) for i in range(5)] + [trial(5, TrialStatus.RUNNING)]
    row = experiment(max_trials=20, max_seconds=1800, started=NOW - 150, paused=50)
    text = header_text(row, "RUNNING", trials, width)
    trials_line, time_line = line_with(text, "trials"), line_with(text, "time")
    assert "5 of 20 finished, 1 running" in trials_line
    assert "RUNNING, 3 trials at a time" in line_with(text, "status")
    heavy, light = trials_line.count("━"), trials_line.count("─")
    assert heavy == round((heavy + light) * (5 / 20)) and heavy + light >= 10
    # 100s spent (50s without a launcher do not count); 15 trials to go at 20s each
    assert "1m40s of 30m, ETA 5m00s" in time_line
    assert "not counting 50s with no launcher" in " ".join(text.split())
    heavy, light = time_line.count("━"), time_line.count("─")
    assert heavy == round((heavy + light) * (100 / 1800)) and heavy + light >= 10
    assert "none yet" not in text and "0.5  trial 000az #0 (maximize)" in text


def test_header_eta_is_the_time_left_when_that_comes_first() -> None:
    trials = [trial(i, final=0.5) for i in range(2)]
    text = header_text(
        experiment(max_trials=100, max_seconds=900, started=NOW - 600), "RUNNING", trials
    )
    assert "ETA 5m00s" in line_with(text, "time")  # 300s left, against 98 trials at 300s each


def test_header_says_eta_only_when_a_trial_finished() -> None:
    text = header_text(experiment(started=NOW - 100), "RUNNING", [trial(0, TrialStatus.RUNNING)])
    assert "ETA" not in text
    assert "at most 58m20s left" in line_with(text, "time")
    assert "none yet" in line_with(text, "best")


def test_header_without_a_time_limit_has_no_time_bar() -> None:
    row = experiment(max_seconds=999 * 86400, max_trials=99999)
    text = header_text(row, "RUNNING", [trial(0, final=1.0), trial(1, TrialStatus.RUNNING)])
    time_line, trials_line = line_with(text, "time"), line_with(text, "trials")
    assert "━" not in time_line and "─" not in time_line and "10m00s, no limit" in time_line
    assert "━" not in trials_line and "1 finished, 1 running" in trials_line
    assert "ETA" not in text  # neither budget ends it: nothing to estimate


def test_header_when_time_ran_out_says_why() -> None:
    row = experiment(
        status=ExperimentStatus.DONE,
        max_seconds=8,
        max_trials=20,
        started=NOW - 30,
        ended=NOW - 13,
        reason="maxExecDuration reached (8s)",
    )
    text = header_text(row, "DONE", [trial(0, final=0.9), trial(1, TrialStatus.USER_CANCELED)])
    assert line_with(text, "status").split() == ["status", "DONE"]
    assert line_with(text, "reason").split(None, 1)[1] == "maxExecDuration reached (8s)"
    assert "17s (limit 8s)" in line_with(text, "time")
    assert "ETA" not in text and "left" not in text
    assert "elapsed" not in text


def test_header_has_no_eta_when_no_launcher_runs() -> None:
    trials = [trial(0, final=0.5), trial(1, TrialStatus.RUNNING)]
    text = header_text(experiment(), "RUNNING (launcher not running)", trials)
    assert "launcher not running" in line_with(text, "status")
    assert "ETA" not in text and "left" not in text


def test_counts_use_the_singular_for_one() -> None:
    assert [plural(n, "trial") for n in (0, 1, 2)] == ["0 trials", "1 trial", "2 trials"]

    def experiment_text(**changes: Any) -> str:
        return header_text(experiment(**changes), "RUNNING", [trial(0, TrialStatus.RUNNING)])

    assert "1 trial at a time" in experiment_text(concurrency=1)


def test_user_text_is_printed_as_written_never_as_markup() -> None:
    row = experiment(name="[bold]mine[/bold]", reason="stopped by the user [x]")
    lines = render(
        ExperimentHeader(row, "STOPPED", [trial(0, TrialStatus.FAILED, message=FAILURE)], now=NOW),
        200,
    ) + render(TrialsTable([trial(0, TrialStatus.FAILED, message=FAILURE)], now=NOW), 200)
    text = "\n".join(lines)
    assert "[bold]mine[/bold]" in text and "stopped by the user [x]" in text
    assert "[red]not markup[/red]" in text
    assert "[bold]random-crop+flip+colour-jitter[/bold]" in text


def test_escape_sequences_in_a_message_do_not_reach_the_terminal() -> None:
    coloured = "exit code 1: \x1b[31mValueError\x1b[0m: bad\tvalue\x07"
    console = Console(width=120, file=io.StringIO(), force_terminal=False)
    show(TrialsTable([trial(0, TrialStatus.FAILED, message=coloured)], now=NOW), console)
    printed = console.file.getvalue()  # type: ignore[attr-defined]
    assert "exit code 1: ValueError: bad    value?" in printed
    assert "\x1b" not in printed and "\x07" not in printed


@pytest.mark.parametrize("width", WIDTHS)
def test_experiments_list_oldest_first_with_why_each_ended(width: int) -> None:
    rows = [
        (experiment(id="newest00", started=NOW - 10), "RUNNING (launcher not running)", []),
        (
            experiment(
                id="oldest00",
                name="a-rather-long-experiment-name-that-needs-folding",
                platform="frameworkcontroller",
                started=NOW - 9000,
                ended=NOW - 8000,
                status=ExperimentStatus.FAILED,
                reason="3 of 3 trials FAILED; first: " + FAILURE,
            ),
            "FAILED",
            [trial(0, TrialStatus.FAILED, message=FAILURE)],
        ),
        (
            experiment(
                id="middle00",
                started=NOW - 500,
                ended=NOW - 400,
                reason="maxTrialNum reached (1 trial)",
            ),
            "DONE",
            [trial(0, final=0.75)],
        ),
    ]
    lines = render(ExperimentsTable(rows), width)
    assert all(cell_len(line) <= width for line in lines)
    starts = [line.split()[:2] for line in lines if re.match(r"[a-z]+00 ", line)]
    assert starts == [["oldest00", "FAILED"], ["middle00", "DONE"], ["newest00", "RUNNING"]]
    text = "\n".join(lines)
    assert squeezed("3 of 3 trials FAILED; first: " + FAILURE) in squeezed(text)
    assert "maxTrialNum reached (1 trial)" in text
    assert "launcher not running: nnifc resume newest00" in text
    assert re.search(r"middle00 +DONE +1/100 +0\.75 ", text)


@pytest.mark.parametrize("width", WIDTHS)
def test_piped_tables_have_no_trailing_spaces(width: int) -> None:
    console = Console(width=width, file=io.StringIO(), force_terminal=False)
    trials = many_trials()
    show(ExperimentHeader(experiment(), "RUNNING", trials, now=NOW), console)
    show(TrialsTable(trials, now=NOW), console)
    show(ExperimentsTable([(experiment(reason="search space exhausted"), "DONE", trials)]), console)
    printed = console.file.getvalue()  # type: ignore[attr-defined]
    assert printed.count("\n") > 100
    assert [line for line in printed.splitlines() if line != line.rstrip()] == []


def test_monitor_line_has_duration_last_value_message_and_parameters() -> None:
    t = trial(3, final=0.93, intermediate=(0.5, 0.91, None), message="final metric\nreported twice")
    assert trial_line(t, NOW) == (
        f"trial {t.id} #3 SUCCEEDED 8s final=0.93 last=0.91 (final metric reported twice) "
        + params_text(t.params)
    )
    waiting = trial(4, TrialStatus.WAITING, params={"lr": 0.1})
    assert trial_line(waiting, NOW) == f'trial {waiting.id} #4 WAITING {{"lr": 0.1}}'


def test_checkpoint_directories_are_shown_by_their_last_two_parts() -> None:
    """A PBT or ASHA trial's two directory paths made each row of the table six lines at 80
    columns; the table keeps what tells trials apart, the JSON keeps the paths."""
    params = {
        "lr": 0.012345678,
        "load_checkpoint_dir": "/mnt/share/nni/exp/checkpoint/3/2",
        "save_checkpoint_dir": "/mnt/share/nni/exp/checkpoint/asha/e70c8e40b4a2715f-3-0/",
        "note": "/a/b/c/d",  # only the two checkpoint keys are shortened
    }
    assert params_text(params) == (
        '{"lr": 0.01235, "load_checkpoint_dir": ".../3/2", '
        '"save_checkpoint_dir": ".../asha/e70c8e40b4a2715f-3-0", "note": "/a/b/c/d"}'
    )
    assert params_text({"save_checkpoint_dir": "/ckpt"}) == '{"save_checkpoint_dir": "/ckpt"}'
