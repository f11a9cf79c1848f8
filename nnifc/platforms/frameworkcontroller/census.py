"""An experiment's trials as the cluster and the storage know them, without the local store.

For a machine that never ran the experiment (or lost $NNIFC_HOME), behind `status --cluster`:
the trial directories on the share give every trial ever submitted, its parameter.cfg its
parameters, its tasks' outputs its metrics and exit codes; the Frameworks still in the cluster
(listed through the one Framework client) give the status of the live ones.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from nnifc.experiment import Experiment
from nnifc.metrics import OutputTail, metric_event
from nnifc.platforms.frameworkcontroller import manifest
from nnifc.platforms.frameworkcontroller.client import Frameworks
from nnifc.platforms.frameworkcontroller.k8s import connect
from nnifc.platforms.frameworkcontroller.manifest import TRIAL_LABEL
from nnifc.platforms.frameworkcontroller.settings import FrameworkControllerSettings, settings_of
from nnifc.records import ExperimentStatus, TrialStatus
from nnifc.storage import Storage
from nnifc.store import ExperimentRow, TrialRow
from nnifc.wrapper import EXIT_NAME, LOG_NAME


def census(
    experiment: Experiment, experiment_id: str, options: Mapping[str, str]
) -> tuple[ExperimentRow, list[TrialRow]]:
    config = experiment.config
    settings = settings_of(experiment)
    fc = settings.frameworkcontroller_config
    storage = settings.storage()
    cluster = connect(
        context=options.get("context"), namespace=options.get("namespace") or fc.namespace
    )
    try:
        listing = Frameworks(cluster).list(
            manifest.selector(experiment_id), "list the experiment's Frameworks"
        )
        live = {raw["metadata"]["labels"][TRIAL_LABEL]: raw for raw in listing.get("items") or []}
        names = set(storage.listdir(manifest.experiment_root(experiment_id)))
        names -= {"code", manifest.SHARED}
        trials = [
            _trial(storage, settings, experiment_id, t, live.get(t))
            for t in sorted(names | set(live))
        ]
    finally:
        storage.close()
        cluster.close()
    trials.sort(key=lambda t: t.sequence)
    running = any(not t.status.final for t in trials)
    row = ExperimentRow(
        id=experiment_id,
        name=config.experiment_name,
        platform=experiment.platform,
        config_path=str(experiment.source),
        config_text=experiment.config_text,
        space_text=experiment.space_text,
        seed=0,
        optimize_mode=experiment.optimize_mode,
        max_trials=config.max_trial_num,
        max_seconds=config.max_exec_seconds,
        status=ExperimentStatus.RUNNING if running else ExperimentStatus.DONE,
        started=min((t.created for t in trials), default=0.0),
        ended=None,
        pid=None,
        stop_requested=False,
        message="rebuilt from the cluster and the storage",
    )
    return row, trials


def _trial(
    storage: Storage[Any],
    config: FrameworkControllerSettings,
    experiment_id: str,
    trial_id: str,
    raw: dict[str, Any] | None,
) -> TrialRow:
    root = manifest.trial_root(experiment_id, trial_id)
    try:
        cfg = json.loads(storage.read(f"{root}/parameter.cfg", 0, 1 << 20) or b"{}")
    except ValueError:
        cfg = {}
    final: tuple[float | None, str] | None = None
    curve: list[float | None] = []
    curve_task: str | None = None
    codes: dict[str, str] = {}
    for task in manifest.tasks(config):
        read = functools.partial(storage.read, f"{root}/output/{task}/{LOG_NAME}")
        for line in OutputTail(read).lines(final=True):
            event = metric_event(trial_id, task, line)
            if event is None:
                continue
            if event.final and final is None:
                final = (event.value, event.raw)
            elif not event.final and curve_task in (None, task):
                curve_task = task
                curve.append(event.value)
        code = storage.read(f"{root}/output/{task}/{EXIT_NAME}", 0, 64).decode().strip()
        if code:
            codes[task] = code
    status, message = _status(raw, codes, reported=final is not None)
    return TrialRow(
        id=trial_id,
        sequence=int(cfg.get("parameter_id", -1)),
        parameter_id=int(cfg.get("parameter_id", -1)),
        params=dict(cfg.get("parameters") or {}),
        status=status,
        handle=manifest.framework_name(experiment_id, trial_id),
        created=0.0,
        started=None,
        ended=None,
        exit_code=None,
        message=message,
        final=final[0] if final else None,
        final_raw=final[1] if final else None,
        intermediate=tuple(curve),
    )


def _status(
    raw: dict[str, Any] | None, codes: dict[str, str], *, reported: bool
) -> tuple[TrialStatus, str]:
    """The live Framework's word, else what the tasks left: exit codes and a final metric.

    Tasks killed because the attempt completed (SIGTERM 143 / SIGKILL 137, or no code at all) do
    not fail a trial, as FrameworkController's completion policy would not.
    """
    if raw is not None:
        observed = manifest.trial_status(raw)
        return observed.status or TrialStatus.RUNNING, observed.message
    failed = {task: code for task, code in codes.items() if code not in ("0", "137", "143")}
    if failed:
        task, code = sorted(failed.items())[0]
        return TrialStatus.FAILED, f"task {task} exit code {code}"
    if reported or "0" in codes.values():
        return TrialStatus.SUCCEEDED, ""
    return TrialStatus.SYS_CANCELED, "no Framework and no exit code: stopped, or never started"
