"""Trials as local process groups: the embedded default for a machine with no cluster.

Each trial runs the task wrapper with NNI's environment in `trial.codeDir`, in its own process
group so cancelling it takes its children too. Its files live under the experiment directory
with the same layout a Framework's tasks use on shared storage (one task, named `local_0`).
The wrapper runs with umask 077, so the trial's log, exit code and parameters are private like
the rest of $NNIFC_HOME; the user's command gets the user's umask back.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from nnifc import private
from nnifc.document import shown
from nnifc.errors import PlatformError
from nnifc.experiment import Experiment, LocalConfig, LocalExperimentConfig, LocalTrial
from nnifc.metrics import OutputTail, metric_event, parse_line, read_file, skipped_metric
from nnifc.platforms.base import Platform, PlatformSettings, Reader
from nnifc.records import StatusChanged, TrialEvent, TrialSpec, TrialStatus
from nnifc.wrapper import EXIT_NAME, LOG_NAME, SCRIPT, parameter_cfg, parse_exit_code, task_env

TASK = "local_0"
UNKNOWN_EXIT = 255  # the trial ended while no launcher watched it, without recording its code
KILL_GRACE_SECONDS = 5.0
GPU_INDICES = re.compile(r"^\s*\d+\s*(,\s*\d+\s*)*$")


class _Adopted:
    """A trial process started by an earlier launcher: not our child, so it is watched by pid."""

    def __init__(self, pid: int, trial_id: str, exit_file: Path) -> None:
        self.pid, self.trial_id, self.exit_file = pid, trial_id, exit_file

    def poll(self) -> int | None:
        if _is_trial_process(self.pid, self.trial_id):
            return None
        try:
            return int(self.exit_file.read_text().strip())
        except (OSError, ValueError):
            return UNKNOWN_EXIT


@dataclass
class _Run:
    proc: subprocess.Popen[bytes] | _Adopted
    tail: OutputTail
    gpus: list[int]
    last_line: str = ""
    skipped: str = ""  # the last over-long metric line's note, kept in its final message
    kill_at: float | None = None  # set once cancelled: SIGKILL the group if still alive then


USER_UMASK = private.user_umask()


class LocalSettings(PlatformSettings):
    trial: LocalTrial
    local_config: LocalConfig
    version_check: bool


class LocalPlatform(Platform[LocalSettings]):
    name = "local"
    Settings = LocalSettings

    def __init__(
        self, settings: LocalSettings, exp_dir: Path, options: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(settings, exp_dir, options)
        self.config = settings
        self._runs: dict[str, _Run] = {}
        self._events: list[TrialEvent] = []
        self._gpu_use = dict.fromkeys(_gpus(self.config.local_config.gpu_indices)[0], 0)

    @classmethod
    def settings_of(cls, experiment: Experiment, options: Mapping[str, str]) -> LocalSettings:
        config = _local(experiment)
        return LocalSettings(
            trial=config.trial,
            local_config=config.local_config,
            version_check=config.version_check,
        )

    @classmethod
    def preflight(cls, experiment: Experiment, options: Mapping[str, str]) -> None:
        """What `prepare` would refuse, located in the config: GPUs this machine does not have."""
        config = _local(experiment)
        given = config.local_config.gpu_indices
        if given is not None and not GPU_INDICES.match(str(given)):
            raise experiment.error_at(
                ("localConfig", "gpuIndices"),
                f'must be GPU indices like 0 or "0,1", got {shown(given)}',
            )
        need = config.trial.gpu_num
        gpus, found_by = _gpus(given)
        if need > len(gpus):
            fix = "set trial.gpuNum: 0, or localConfig.gpuIndices to the GPUs to use"
            raise experiment.error_at(
                ("trial", "gpuNum"),
                f"{_gpus_text(need)} per trial, but {found_by}; "
                + (fix if not gpus else "lower trial.gpuNum"),
            )

    @property
    def capacity(self) -> int:
        need = self.config.trial.gpu_num
        if need == 0:
            return super().capacity
        return len(self._gpu_use) * self.config.local_config.max_trial_num_per_gpu // need

    def prepare(self, *, resuming: bool = False) -> None:
        need = self.config.trial.gpu_num
        if need > len(self._gpu_use):
            raise PlatformError(
                f"trial.gpuNum is {need} but {len(self._gpu_use)} GPUs are available here; "
                "set localConfig.gpuIndices or lower trial.gpuNum"
            )
        code_dir = self.config.trial.code_dir
        if not code_dir.is_dir():
            raise PlatformError(
                f"trial.codeDir {code_dir} is gone: trials run there; put it back, then resume"
            )
        private.make_dirs(self.exp_dir / "shared")
        private.write_text(self.exp_dir / "wrapper.sh", SCRIPT)

    def shared_dir(self) -> str:
        return str(self.exp_dir / "shared")

    def trial_dir(self, trial_id: str) -> Path:
        return self.exp_dir / "trials" / trial_id

    def submit(self, spec: TrialSpec) -> str:
        trial_dir = self.trial_dir(spec.trial_id)
        private.make_dirs(trial_dir / "output" / TASK)
        cfg = trial_dir / "parameter.cfg"
        private.write_text(cfg.with_suffix(".tmp"), parameter_cfg(spec))
        cfg.with_suffix(".tmp").replace(cfg)
        code_dir = self.config.trial.code_dir
        env = {
            **os.environ,
            **task_env(
                spec,
                sys_dir=trial_dir,
                task=TASK,
                command=self.config.trial.command,
                workdir=code_dir,
                version_check=self.config.version_check,
            ),
        }
        gpus = self._take_gpus()
        env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, gpus))
        env["NNIFC_UMASK"] = f"{USER_UMASK:03o}"  # the user's command runs with their own
        log = trial_dir / "output" / TASK / LOG_NAME
        try:
            with private.open_append(log) as wrapper_errors:
                proc = subprocess.Popen(
                    ["sh", str(self.exp_dir / "wrapper.sh")],
                    env=env,
                    cwd=code_dir,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=wrapper_errors,
                    start_new_session=True,
                    umask=private.TRIAL_UMASK,
                )
        except OSError as e:
            self._release(gpus)
            raise PlatformError(f"cannot start trial {spec.trial_id}: {e}") from e
        self._runs[spec.trial_id] = _Run(proc, OutputTail(read_file(str(log))), gpus)
        self._events.append(StatusChanged(spec.trial_id, TrialStatus.RUNNING))
        return str(proc.pid)

    def adopt(self, spec: TrialSpec, handle: str | None) -> str | None:
        trial_dir = self.trial_dir(spec.trial_id)
        pid = int(handle) if handle else _find_trial_process(spec.trial_id)
        exit_file = trial_dir / "output" / TASK / EXIT_NAME
        log = trial_dir / "output" / TASK / LOG_NAME
        silent = not log.exists() or log.stat().st_size == 0  # made just before its start
        if pid is None and not exit_file.exists() and silent:
            return None  # recorded, never started: the caller submits it
        gpus = _gpus_of(pid)
        for gpu in gpus:
            self._gpu_use[gpu] = self._gpu_use.get(gpu, 0) + 1
        adopted = _Adopted(pid or 0, spec.trial_id, exit_file)
        self._runs[spec.trial_id] = _Run(adopted, OutputTail(read_file(str(log))), gpus)
        return str(pid) if pid else ""

    def cancel(self, trial_id: str, handle: str) -> None:
        run = self._runs.get(trial_id)
        if run is not None:
            if run.kill_at is None:
                _signal_group(run.proc.pid, signal.SIGTERM)
                run.kill_at = time.monotonic() + KILL_GRACE_SECONDS
            return
        pid = int(handle) if handle else _find_trial_process(trial_id)
        if not pid or not _is_trial_process(pid, trial_id):
            return  # already gone (or the pid now belongs to something else)
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + KILL_GRACE_SECONDS
        while _group_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        _signal_group(pid, signal.SIGKILL)

    def poll(self, timeout: float) -> list[TrialEvent]:
        deadline = time.monotonic() + timeout
        while True:
            events, self._events = self._events, []
            for trial_id, run in list(self._runs.items()):
                events.extend(self._collect(trial_id, run))
            if events or time.monotonic() >= deadline:
                return events
            time.sleep(min(0.02, max(0.0, deadline - time.monotonic())))

    def _collect(self, trial_id: str, run: _Run) -> list[TrialEvent]:
        code = run.proc.poll()
        events = self._read(trial_id, run, final=code is not None)
        if code is None:
            if run.kill_at is not None and time.monotonic() >= run.kill_at:
                _signal_group(run.proc.pid, signal.SIGKILL)
            return events
        if run.kill_at is not None:
            _signal_group(run.proc.pid, signal.SIGKILL)  # leftovers of a cancelled group
        del self._runs[trial_id]
        self._release(run.gpus)
        if run.kill_at is not None:
            return events
        if code == 0:
            events.append(StatusChanged(trial_id, TrialStatus.SUCCEEDED, run.skipped, 0))
        elif isinstance(run.proc, _Adopted) and code == UNKNOWN_EXIT:
            gone = "ended while no launcher was running; its exit code was not recorded"
            events.append(StatusChanged(trial_id, TrialStatus.SYS_CANCELED, _noted(gone, run)))
        else:
            reason = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
            message = f"{reason}: {run.last_line}" if run.last_line else reason
            events.append(StatusChanged(trial_id, TrialStatus.FAILED, _noted(message, run), code))
        return events

    def _read(self, trial_id: str, run: _Run, *, final: bool) -> list[TrialEvent]:
        events: list[TrialEvent] = []
        for line in run.tail.lines(final=final):
            event = metric_event(trial_id, TASK, line)
            skipped = skipped_metric(TASK, line)
            if event is not None:
                events.append(event)
            elif skipped is not None:  # the message of the running trial, until its end
                run.skipped = skipped
                events.append(StatusChanged(trial_id, TrialStatus.RUNNING, skipped))
            elif line.text.strip() and parse_line(line.text) is None:
                run.last_line = line.text.strip()[:300]
        return events

    def exit_code(self, trial_id: str, task: str) -> int | None:
        return parse_exit_code(
            read_file(str(self.trial_dir(trial_id) / "output" / task / EXIT_NAME))(0, 64)
        )

    def outputs(self, trial_id: str) -> dict[str, Reader]:
        return {TASK: read_file(str(self.trial_dir(trial_id) / "output" / TASK / LOG_NAME))}

    def drain(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self._runs and time.monotonic() < deadline:
            self.poll(0.05)
        return len(self._runs)

    def close(self) -> None:
        """Trials asked to stop are killed now (their grace would end with no one to see it);
        the others keep running."""
        for run in self._runs.values():
            if run.kill_at is not None:
                _signal_group(run.proc.pid, signal.SIGKILL)

    def _take_gpus(self) -> list[int]:
        need = self.config.trial.gpu_num
        limit = self.config.local_config.max_trial_num_per_gpu
        free = sorted((use, gpu) for gpu, use in self._gpu_use.items() if use < limit)
        chosen = sorted(gpu for _, gpu in free[:need])
        for gpu in chosen:
            self._gpu_use[gpu] += 1
        return chosen

    def _release(self, gpus: list[int]) -> None:
        for gpu in gpus:
            self._gpu_use[gpu] -= 1


def _noted(message: str, run: _Run) -> str:
    return f"{message}; {run.skipped}" if run.skipped else message


def _gpus(given: int | str | None) -> tuple[list[int], str]:
    """The GPUs trials may use (localConfig.gpuIndices, else all nvidia-smi lists) and, for a
    message, where that came from."""
    if given is not None:
        indices = [int(i) for i in str(given).split(",") if i.strip()]
        return indices, f"localConfig.gpuIndices lists {_gpus_text(len(indices))}"
    if shutil.which("nvidia-smi") is None:
        return [], "this machine has no GPU: nvidia-smi is not on PATH"
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as e:
        return [], f"nvidia-smi -L failed ({e}), so no GPU can be used"
    count = sum(1 for line in listing.stdout.splitlines() if line.startswith("GPU "))
    return list(range(count)), f"nvidia-smi -L lists {_gpus_text(count)}"


def _gpus_text(count: int) -> str:
    return f"{count} GPU" if count == 1 else f"{count} GPUs"


def _signal_group(pid: int, sig: signal.Signals) -> None:
    if pid <= 0:  # never a real group: 0 and -1 would signal ourselves or everything
        return
    with contextlib.suppress(OSError):
        os.killpg(pid, sig)


def _group_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.killpg(pid, 0)
    except OSError:
        return False
    return True


def _find_trial_process(trial_id: str) -> int | None:
    """The wrapper process of `trial_id`, found by the environment nnifc gave it."""
    marker = f"NNI_TRIAL_JOB_ID={trial_id}".encode()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0") and os.getpgid(
                int(entry.name)
            ) == int(entry.name):
                return int(entry.name)
        except (OSError, ProcessLookupError):
            continue
    return None


def _gpus_of(pid: int | None) -> list[int]:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") if pid else []
    except OSError:
        return []
    for item in environ:
        if item.startswith(b"CUDA_VISIBLE_DEVICES="):
            return [int(i) for i in item.split(b"=", 1)[1].split(b",") if i.strip().isdigit()]
    return []


def _is_trial_process(pid: int, trial_id: str) -> bool:
    """True if `pid` is still the wrapper nnifc started for `trial_id` (guards against pid reuse)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return _group_alive(pid) and not Path("/proc").is_dir()
    return f"NNI_TRIAL_JOB_ID={trial_id}".encode() in environ.split(b"\0")


def _local(experiment: Experiment) -> LocalExperimentConfig:
    config = experiment.config
    if not isinstance(config, LocalExperimentConfig):
        raise PlatformError(f"a {config.training_service_platform} experiment is not local")
    return config
