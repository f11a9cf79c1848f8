"""Fast containers: a task that "runs" for a fixed delay without a process, for load tests.

Why: benchmarking the launcher at 10,000 trials, 500 at once, cannot start 500 Python trials on
two cores, and their CPU would drown the launcher's. A fast container writes, at the times a
quick trial would, exactly the files the nnifc task wrapper (nnifc/wrapper.py) and an NNI trial
(nni 3.0 `LocalLegacyTrialCommandChannel`, NNI_PLATFORM=frameworkcontroller) write on the
shared storage: the output directory, parameter.cfg from NNIFC_PARAMETERS, the wrapper's
`nni_version` (when NNIFC_VERSION_CHECK is set; the trial's python is taken to have nni
NNI_VERSION), nni's empty `trial.log` and `$NNI_SYS_DIR/.nni/metrics` (metrics go to stdout),
intermediate and final `NNISDK_MEb'...'` lines appended to $NNIFC_LOG (and, as `tee` does, to the container log), then $NNIFC_EXIT
through `.tmp` + rename, and "exits 0". The pod then completes through the normal kubelet and
FrameworkController path. `test_fast_mode_writes_what_a_real_nnifc_trial_writes` compares the
files with a real run of the wrapper and nni, so a change to the wrapper that this module does
not follow fails there.

Not simulated: the wrapper's code copy into the pod-local work volume (nothing outside the pod
sees it) and the user command itself (the metrics stand in for its output). The final metric
is `fast_value(params)`, a quadratic with its maximum 1.0 where every numeric parameter is 0.3,
so a tuner has something to learn. A container whose env has no NNIFC_LOG (not an nnifc task)
writes nothing and exits 0 after the delay.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

Obj = dict[str, Any]
METRICS = 3  # intermediate results per trial
OPTIMUM = 0.3
PARAMETER_POLL = 3.0  # nni re-checks for a missing parameter.cfg this often
NNI_VERSION = "3.0"  # what the wrapper's probe finds in a fast task


def fast_value(params: Obj) -> float:
    """The final metric of a fast trial: 1 - sum((v - 0.3)^2) over its numeric parameters."""
    numeric = [
        float(v) for v in params.values() if isinstance(v, int | float) and not isinstance(v, bool)
    ]
    return 1.0 - sum((v - OPTIMUM) ** 2 for v in numeric)


def intermediate_values(final: float, count: int = METRICS) -> list[float]:
    """What a fast trial reports before its final value: approaching it from below."""
    return [final - 0.1 * (count - i) for i in range(count)]


def sdk_line(kind: str, parameter_id: Any, trial_id: str, sequence: int, value: float) -> str:
    """One metric line exactly as nni's SDK prints it (json_tricks' output equals json's here)."""
    record = {
        "parameter_id": parameter_id,
        "trial_job_id": trial_id,
        "type": kind,
        "sequence": sequence,
        "value": json.dumps(value),
    }
    return f"NNISDK_MEb'{json.dumps(record)}'\n"


def host_path(path: str, mounts: list[tuple[PurePosixPath, Path]], rootfs: Path) -> Path:
    """Where a path inside the container lives here: under its volume mount, else the pod rootfs."""
    target = PurePosixPath(path)
    for mount_path, source in sorted(mounts, key=lambda m: len(m[0].parts), reverse=True):
        if target == mount_path or mount_path in target.parents:
            return source.joinpath(*target.parts[len(mount_path.parts) :])
    return rootfs.joinpath(*target.parts[1:])


def _append(paths: list[Path], text: str) -> None:
    for path in paths:
        with path.open("a") as out:
            out.write(text)


def _exit(code_file: Path, code: int) -> int:
    """`echo "$?" > "$NNIFC_EXIT.tmp"; mv -f "$NNIFC_EXIT.tmp" "$NNIFC_EXIT"`."""
    code_file.parent.mkdir(parents=True, exist_ok=True)
    temp = code_file.with_name(code_file.name + ".tmp")
    temp.write_text(f"{code}\n")
    os.replace(temp, code_file)
    return code


@dataclass
class FastContainer:
    """One container's schedule; `advance(now)` does what is due and returns the exit code at the end."""

    env: dict[str, str]
    mounts: list[tuple[PurePosixPath, Path]]
    rootfs: Path
    container_log: Path
    delay: float
    started: float
    next_due: float = 0.0
    _lines: list[str] = field(default_factory=list)
    _times: list[float] = field(default_factory=list)
    _params_read: bool = False
    _wrapped: bool = False
    _asked: bool = False
    _paths: dict[str, Path | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.next_due = self.started

    def _path(self, name: str) -> Path | None:
        """Where $name points here; env and mounts never change, so each is resolved once."""
        if name not in self._paths:
            value = self.env.get(name)
            self._paths[name] = host_path(value, self.mounts, self.rootfs) if value else None
        return self._paths[name]

    def advance(self, now: float) -> int | None:
        if now < self.next_due:
            return None
        log, code_file = self._path("NNIFC_LOG"), self._path("NNIFC_EXIT")
        if log is None or code_file is None:  # not an nnifc task: just take the time
            self.next_due = self.started + self.delay
            return 0 if now >= self.next_due else None
        if not self._wrapped:
            self._wrapped = True
            refused = self._wrapper_start(log, code_file)
            if refused is not None:
                return refused
        if not self._params_read:
            try:
                if not self._begin(log, code_file, now):
                    return None
            except ValueError as exc:  # the SDK dies on a corrupt parameter.cfg
                _append([log, self.container_log], f"json.decoder.JSONDecodeError: {exc}\n")
                return _exit(code_file, 1)
        while self._times and self._times[0] <= now:
            self._times.pop(0)
            _append([log, self.container_log], self._lines.pop(0))
        if self._times:
            self.next_due = self._times[0]
            return None
        return _exit(code_file, 0)

    def _wrapper_start(self, log: Path, code_file: Path) -> int | None:
        """The wrapper up to the user's command; an exit code if its version check stops it."""
        output = self._path("NNI_OUTPUT_DIR")
        for directory in (output, log.parent):
            if directory is not None:
                directory.mkdir(parents=True, exist_ok=True)
        log.touch()
        parameters, sys_dir = self.env.get("NNIFC_PARAMETERS"), self._path("NNI_SYS_DIR")
        if parameters and output is not None and sys_dir is not None:  # the Framework's own
            (output / "parameter.cfg.tmp").write_text(parameters)
            (output / "parameter.cfg.tmp").replace(sys_dir / "parameter.cfg")
        code_file.unlink(missing_ok=True)
        check = self.env.get("NNIFC_VERSION_CHECK")
        if not check or output is None:
            return None
        (output / "nni_version").write_text(NNI_VERSION + "\n")
        major, minor = NNI_VERSION.split(".")[:2]
        number = int(major) * 1000 + int(minor)
        low, high = int(self.env.get("NNIFC_NNI_MIN", "0")), int(self.env.get("NNIFC_NNI_MAX", "0"))
        if low <= number <= high:
            return None
        said = (
            f"nnifc: the task's python has nni {NNI_VERSION}, but nnifc supports nni "
            + self.env.get("NNIFC_NNI_RANGE", "")
        )
        if check == "fail":
            _append([log, self.container_log], said + " (versionCheck is true)\n")
            code_file.write_text("71\n")
            return 71
        _append([log, self.container_log], said + "; running anyway (versionCheck is false)\n")
        return None

    def _begin(self, log: Path, code_file: Path, now: float) -> bool:
        """The SDK's start (nni 3.0); False while parameter.cfg is missing (nni waits)."""
        output = self._path("NNI_OUTPUT_DIR")
        sys_dir = self._path("NNI_SYS_DIR")
        if output is not None:  # nni.runtime.log: the trial logger's file
            output.mkdir(parents=True, exist_ok=True)
            (output / "trial.log").touch()
        if sys_dir is not None:
            (sys_dir / ".nni").mkdir(parents=True, exist_ok=True)
            (sys_dir / ".nni" / "metrics").touch()
        trial_id = self.env.get("NNI_TRIAL_JOB_ID", "")
        cfg = sys_dir / "parameter.cfg" if sys_dir is not None else None
        if cfg is None or not cfg.is_file() or cfg.stat().st_size == 0:
            if not self._asked:  # asked once, as the SDK does
                self._asked = True
                request = {
                    "trial_job_id": trial_id,
                    "type": "REQUEST_PARAMETER",
                    "sequence": 0,
                    "parameter_index": 0,
                }
                _append([log, self.container_log], f"NNISDK_MEb'{json.dumps(request)}'\n")
            self.next_due = now + PARAMETER_POLL
            return False
        record = json.loads(cfg.read_text())
        if not isinstance(record, dict):
            raise ValueError("parameter.cfg is not a JSON object")
        params = record.get("parameters") or {}
        parameter_id = record.get("parameter_id")
        final = fast_value(params)
        values = intermediate_values(final)
        for i, value in enumerate(values):
            self._lines.append(sdk_line("PERIODICAL", parameter_id, trial_id, i, value))
            self._times.append(now + self.delay * (i + 1) / (len(values) + 1))
        self._lines.append(sdk_line("FINAL", parameter_id, trial_id, 0, final))
        self._times.append(now + self.delay)
        self._params_read = True
        self.next_due = self._times[0]
        return True
