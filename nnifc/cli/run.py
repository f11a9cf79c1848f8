"""`create`, `resume` and the loop they run (in this process, or detached as `run-loop`)."""

from __future__ import annotations

import gc
import os
import signal
from collections import Counter
from pathlib import Path
from types import FrameType

import click
import numpy as np
import threadpoolctl

from nnifc import config, experiments, launcher, rebuild, transfer, view
from nnifc.budget import plural
from nnifc.cli.console import err, out, say, warn
from nnifc.errors import ExperimentFailed, NnifcError, NoKubeconfig
from nnifc.monitor import Monitor
from nnifc.platforms import PLATFORMS
from nnifc.records import ExperimentStatus, TrialSpec, TrialStatus
from nnifc.scheduler import LeaveRunning, Scheduler
from nnifc.store import Store, TrialRow

INTERRUPTED = 130  # the shell's code for Ctrl-C: the loop left, its trials run on
CTRL_C_GRACE_SECONDS = 1.5  # after the first Ctrl-C, time to press it again before cancelling


@click.command()
@click.option(
    "--config",
    "-c",
    "config_path",
    required=True,
    type=click.Path(path_type=Path),
    help="NNI v1 experiment YAML.",
)
@click.option(
    "--detach",
    is_flag=True,
    help="Run the trial loop in the background and print the experiment id.",
)
@click.option(
    "--dry-run", is_flag=True, help="Validate everything and show what would run; create nothing."
)
@click.option(
    "--context", help="kubeconfig context (frameworkcontroller); default: the current one."
)
@click.option(
    "--namespace", help="Kubernetes namespace; default: frameworkcontrollerConfig.namespace."
)
@click.option(
    "--resume", "resume_id", metavar="EXP", help="Resume experiment EXP (created from this config)."
)
@click.option(
    "--import",
    "import_path",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="FILE",
    help="Warm-start the tuner with the finished trials in FILE (an export, or NNI's import JSON).",
)
def create(
    config_path: Path,
    detach: bool,
    dry_run: bool,
    context: str | None,
    namespace: str | None,
    resume_id: str | None,
    import_path: Path | None,
) -> None:
    """Validate a config and run its experiment.

    \b
    Example:
        nnifc create --config exp.yml
        nnifc create --config exp.yml --dry-run
        nnifc create --config exp.yml --resume 3kq9x0ab
    """
    experiment = config.load(config_path)
    imported = transfer.read(import_path, experiment.space) if import_path else []
    if resume_id is not None:
        store = Store.open(experiments.resolve(resume_id))
        if store.experiment().config_path != str(experiment.source):
            raise NnifcError(
                f"experiment {resume_id} was created from {store.experiment().config_path}, not {experiment.source}"
            )
        if store.experiment().config_text != experiment.config_text:
            warn("the config changed since the experiment was created; resuming with the original")
        if imported:
            store.add_imported([(p.params, p.value) for p in imported], str(import_path))
        _resume(store, detach=detach)
        return
    for warning in experiment.warnings:
        warn(warning)
    options = {k: v for k, v in (("context", context), ("namespace", namespace)) if v}
    platform = PLATFORMS[experiment.platform]
    if dry_run:
        _print_plan(experiment, options)
        try:
            platform.preflight(experiment, options)
        except NoKubeconfig as e:
            skipped = f"cluster checks skipped: {e}; the storage was not checked either"
            say(skipped)
            say("config checks passed; nothing was created (dry run)")
            return
        say("checks passed; nothing was created (dry run)")
        return
    platform.preflight(experiment, options)
    store = experiments.register(experiment, options)
    if imported:
        store.add_imported([(p.params, p.value) for p in imported], str(import_path))
    exp_id = store.experiment().id
    if detach:
        store.set_pid(launcher.start_detached(exp_id))
        say(
            f"experiment {exp_id} started in the background\n  nnifc status {exp_id}\n  nnifc stop {exp_id}"
        )
        return
    launcher.claim(exp_id)
    say(f"experiment {exp_id} ({experiment.config.experiment_name}) on {experiment.platform}")
    say(f"  watch it in a browser: nnifc view {exp_id}")
    _run_loop(store)


@click.command()
@click.argument("exp_id")
@click.option("--detach", is_flag=True, help="Run the resumed loop in the background.")
def resume(exp_id: str, detach: bool) -> None:
    """Re-attach to an experiment whose loop died, adopting its running trials.

    \b
    Example:
        nnifc resume 3kq9x0ab
    """
    _resume(Store.open(experiments.resolve(exp_id)), detach=detach)


def _resume(store: Store, *, detach: bool) -> None:
    exp_id = store.experiment().id
    claim = launcher.claim(exp_id)  # held by this process, or by the loop it starts
    launcher.prepare_resume(store)
    if detach:
        pid = launcher.start_detached(exp_id, resuming=True, claim_fd=claim)
        store.set_pid(pid)
        say(f"experiment {exp_id} resumed in the background")
        return
    say(f"experiment {exp_id} resumed")
    _run_loop(store, resuming=True)


@click.command("run-loop", hidden=True)
@click.argument("exp_id")
@click.option("--resuming", is_flag=True)
def run_loop(exp_id: str, resuming: bool) -> None:
    """Run an experiment's loop in this process (what --detach starts)."""
    inherited = os.environ.pop(launcher.CLAIM_FD_ENV, None)
    if inherited is not None:
        launcher.mark_claim(int(inherited))
    else:
        launcher.claim(exp_id)
    store = Store.open(exp_id)
    store.set_pid(os.getpid())
    _run_loop(store, resuming=resuming)


def _run_loop(store: Store, *, resuming: bool = False) -> None:
    row = store.experiment()
    experiment = rebuild.reload(row)  # the tuner, search space and budgets; not the platform's
    # The loop makes many short-lived acyclic objects (decoded Frameworks, metric lines): what was
    # loaded so far is never garbage, and collecting less often keeps the collector's share small.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    # The tuner's arrays are small: a second BLAS thread only spins (twice the CPU at 10,000).
    threadpoolctl.threadpool_limits(1)
    with Monitor(store, out) as monitor:
        platform = rebuild.platform_for(row)
        scheduler = Scheduler(experiment, store, platform, on_change=monitor.update)
        _stop_on_signals(scheduler)
        try:
            status = scheduler.run(resuming=resuming)
        except LeaveRunning:
            status = None
    if status is None:
        exp_id = row.id
        say(
            f"left experiment {exp_id} with its trials running; nnifc resume {exp_id} continues,"
            f" nnifc stop {exp_id} stops them",
            err,
        )
        raise SystemExit(INTERRUPTED)
    _print_outcome(store, status)


def _stop_on_signals(scheduler: Scheduler) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and scheduler.stop_requested:
            if not scheduler.request_leave():  # a second Ctrl-C: leave, the trials keep running
                say("already cancelling the trials; wait for it to finish", err)
            return
        if signum == signal.SIGINT:
            running = plural(len(scheduler.live), "running trial")
            say(
                f"stopping: cancelling {running}; Ctrl-C again to leave them running;"
                f" nnifc resume {scheduler.exp_id} continues",
                err,
            )
            scheduler.request_stop(grace=CTRL_C_GRACE_SECONDS)
            return
        scheduler.request_stop()  # SIGTERM, as `nnifc stop` sends: at once

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def _print_plan(experiment: config.Experiment, options: dict[str, str]) -> None:
    seed = experiment.tuner_options.seed or 0
    rng = np.random.default_rng([seed, 0])
    proposed = experiment.tuner_class(experiment.space, experiment.tuner_options).propose(
        [], [], rng
    )
    first = proposed if proposed is not None else experiment.space.sample(rng)  # (an empty grid)
    spec = TrialSpec("dryrun00", "first", 0, 0, first)
    platform = PLATFORMS[experiment.platform]
    described = platform.describe(platform.settings_of(experiment, options), options, spec)
    out.print(view.plan(experiment, first, described), soft_wrap=True)


def _print_outcome(store: Store, status: ExperimentStatus) -> None:
    """The end, as a script reads it: exit 0 only when a trial produced a final metric and the
    experiment did not fail (NO_RESULT otherwise, 1 when the launcher itself failed)."""
    row, trials = store.experiment(), store.trials()
    top = view.best(trials, row.optimize_mode)
    counts = Counter(t.status.value for t in trials)
    by_status = ", ".join(f"{n} {s}" for s, n in counts.most_common())
    said = row.reason and status is not ExperimentStatus.FAILED  # the error line says why
    say(f"experiment {row.id} {status.value}" + (f": {row.reason}" if said else ""))
    say(f"{plural(len(trials), 'trial')}" + (f": {by_status}" if by_status else ""))
    if top is not None:
        say(
            f"best trial {top.id} (#{top.sequence}): {view.number(top.final)} with {view.params_text(top.params)}"
        )
    if status is ExperimentStatus.ERROR:
        raise NnifcError(row.message)
    if status is ExperimentStatus.FAILED:
        raise ExperimentFailed(f"experiment {row.id} FAILED: {row.reason}")
    if top is None:
        problem = _first_problem(trials)
        raise ExperimentFailed(
            f"no trial produced a final metric ({problem}); see nnifc status {row.id}"
        )


def _first_problem(trials: list[TrialRow]) -> str:
    failed = [t for t in trials if t.status is TrialStatus.FAILED]
    if failed:
        return f"{len(failed)} of {plural(len(trials), 'trial')} FAILED; first: {failed[0].message}"
    said = next((t.message for t in trials if t.message), "")
    return said or "none ran"
