"""The Framework object: what nnifc sends to FrameworkController and how it reads one back.

Why apart from the calls that send it: both halves are pure, so they are tested as tables.
`manifest()` builds one trial's Framework with every spec field explicit (FrameworkController
has no defaulting and writes status back with a full update) and validates against the
project's schema. `trial_status()` is the one table from FrameworkController's state and
completion code to a trial status. Both are pure.

The user's text in a pod (the command, the parameters) is passed through `verbatim`:
FrameworkController replaces `{{FC_...}}` placeholders anywhere in the pod it creates, and
Kubernetes expands `$(VAR)` and `$$` in env values; a parameter `{{FC_POD_NAME}}` reached the
trial as the pod's name. Kubernetes' own escapes undo both and keep the manifest readable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from nnifc.experiment import TaskRole
from nnifc.platforms.frameworkcontroller.settings import FrameworkControllerSettings
from nnifc.records import TrialSpec, TrialStatus
from nnifc.wrapper import SCRIPT, parameter_cfg, task_env

GROUP, VERSION, PLURAL = "frameworkcontroller.microsoft.com", "v1", "frameworks"
API_VERSION = f"{GROUP}/{VERSION}"
MOUNT = PurePosixPath("/tmp/mount")  # where NNI mounted the share; trial code may rely on it
SHARED = "shared"  # beside code/ and the trials: what every trial reads and writes (checkpoints)
WORKDIR = PurePosixPath("/nnifc/work")  # pod-local copy of the code
BARRIER_MOUNT = "/mnt/frameworkbarrier"
EXPERIMENT_LABEL, TRIAL_LABEL = "nnifc/experiment", "nnifc/trial"
STORAGE_VOLUME, WORK_VOLUME, BARRIER_VOLUME = (
    "nnifc-storage",
    "nnifc-work",
    "frameworkbarrier-volume",
)
GRACEFUL_DELETION_SECONDS = 600
LBRACE = "NNIFC_LBRACE"  # an env var holding "{", first in the env: `verbatim` refers to it
STOPPED_CODE = -210  # StopFrameworkRequested


def framework_name(experiment_id: str, trial_id: str) -> str:
    return f"nniexp{experiment_id}trial{trial_id}"


def experiment_root(experiment_id: str) -> str:
    """The experiment's directory on the share, relative to its root."""
    return f"nni/{experiment_id}"


def trial_root(experiment_id: str, trial_id: str) -> str:
    return f"{experiment_root(experiment_id)}/{trial_id}"


def labels(experiment_id: str, trial_id: str | None = None) -> dict[str, str]:
    """nnifc's labels, plus NNI's so existing kubectl habits keep working."""
    found = {EXPERIMENT_LABEL: experiment_id, "app": "nni-kubernetes-trial", "expId": experiment_id}
    if trial_id is not None:
        found |= {TRIAL_LABEL: trial_id, "trialId": trial_id}
    return found


def selector(experiment_id: str) -> str:
    return f"{EXPERIMENT_LABEL}={experiment_id}"


def pull_secrets(config: FrameworkControllerSettings, experiment_id: str) -> dict[str, str]:
    """Task-role name -> the image-pull Secret made from its registry auth file (one per file)."""
    paths = sorted(
        {
            str(r.private_registry_auth_path)
            for r in config.trial.task_roles
            if r.private_registry_auth_path
        }
    )
    names = {path: f"nnifc-{experiment_id}-registry-{i}" for i, path in enumerate(paths)}
    return {
        r.name: names[str(r.private_registry_auth_path)]
        for r in config.trial.task_roles
        if r.private_registry_auth_path
    }


def tasks(config: FrameworkControllerSettings) -> list[str]:
    """Every task of a trial as "<role>_<index>", the name of its output directory."""
    return [f"{role.name}_{i}" for role in config.trial.task_roles for i in range(role.task_num)]


def manifest(
    spec: TrialSpec,
    config: FrameworkControllerSettings,
    *,
    namespace: str,
    volume: dict[str, Any],
    pull_secrets: dict[str, str],
) -> dict[str, Any]:
    """One trial's Framework.

    Args:
        volume: the storage's pod volume entry (named STORAGE_VOLUME).
        pull_secrets: task-role name -> image-pull Secret name, for roles with a registry auth file.
    """
    fc = config.frameworkcontroller_config
    roles = config.trial.task_roles
    barrier = (
        fc.framework_barrier
        if fc.framework_barrier is not None
        else sum(r.task_num for r in roles) > 1
    )
    return {
        "apiVersion": API_VERSION,
        "kind": "Framework",
        "metadata": {
            "name": framework_name(spec.experiment_id, spec.trial_id),
            "namespace": namespace,
            "labels": labels(spec.experiment_id, spec.trial_id),
        },
        "spec": {
            "description": f"nnifc experiment {spec.experiment_id} trial {spec.trial_id} (#{spec.sequence})",
            "executionType": "Start",
            "retryPolicy": {"fancyRetryPolicy": False, "maxRetryCount": 0},
            "taskRoles": [
                _task_role(
                    spec,
                    config,
                    i,
                    volume=volume,
                    barrier=barrier,
                    pull_secret=pull_secrets.get(role.name),
                )
                for i, role in enumerate(roles)
            ],
        },
    }


def _task_role(
    spec: TrialSpec,
    config: FrameworkControllerSettings,
    index: int,
    *,
    volume: dict[str, Any],
    barrier: bool,
    pull_secret: str | None,
) -> dict[str, Any]:
    role = config.trial.task_roles[index]
    policy = role.framework_attempt_completion_policy
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [_container(spec, config, role, index, barrier=barrier)],
        "volumes": [volume, {"name": WORK_VOLUME, "emptyDir": {}}],
    }
    fc = config.frameworkcontroller_config
    if fc.service_account_name:
        pod_spec["serviceAccountName"] = fc.service_account_name
    if pull_secret:
        pod_spec["imagePullSecrets"] = [{"name": pull_secret}]
    if barrier:
        pod_spec["initContainers"] = [
            {
                "name": "frameworkbarrier",
                "image": fc.framework_barrier_image,
                "volumeMounts": [{"name": BARRIER_VOLUME, "mountPath": BARRIER_MOUNT}],
            }
        ]
        pod_spec["volumes"].append({"name": BARRIER_VOLUME, "emptyDir": {}})
    return {
        "name": role.name,
        "taskNumber": role.task_num,
        "frameworkAttemptCompletionPolicy": {
            # FrameworkController reads 0 like -1 (disabled); its schema wants -1
            "minFailedTaskCount": policy.min_failed_task_count or -1,
            "minSucceededTaskCount": policy.min_succeeded_task_count or -1,
        },
        "task": {
            "retryPolicy": {"fancyRetryPolicy": False, "maxRetryCount": 0},
            "podGracefulDeletionTimeoutSec": GRACEFUL_DELETION_SECONDS,
            "pod": {
                "metadata": {"labels": labels(spec.experiment_id, spec.trial_id)},
                "spec": pod_spec,
            },
        },
    }


def _container(
    spec: TrialSpec,
    config: FrameworkControllerSettings,
    role: TaskRole,
    index: int,
    *,
    barrier: bool,
) -> dict[str, Any]:
    share = MOUNT / trial_root(spec.experiment_id, spec.trial_id)
    env = {LBRACE: "{"}
    env |= task_env(
        spec,
        sys_dir=share,
        task=f"{role.name}_{{{{FC_TASK_INDEX}}}}",  # a placeholder FrameworkController fills
        command=verbatim(role.command),
        workdir=WORKDIR,
        version_check=config.version_check,
    )
    env["NNIFC_CODE_SRC"] = str(MOUNT / experiment_root(spec.experiment_id) / "code")
    # the wrapper writes $NNI_SYS_DIR/parameter.cfg
    env["NNIFC_PARAMETERS"] = verbatim(parameter_cfg(spec))
    for i, other in enumerate(config.trial.task_roles):
        env[f"FB_{other.name.upper()}_PORT"] = str(4000 + i)
    if role.gpu_num == 0:
        env["CUDA_VISIBLE_DEVICES"] = (
            ""  # with no GPU requested, the NVIDIA runtime would expose all
        )
    resources: dict[str, Any] = {"cpu": _number(role.cpu_num), "memory": f"{role.memory_mb}Mi"}
    if role.gpu_num:
        resources["nvidia.com/gpu"] = str(role.gpu_num)
    mounts = [
        {"name": STORAGE_VOLUME, "mountPath": str(MOUNT)},
        {"name": WORK_VOLUME, "mountPath": str(WORKDIR)},
    ]
    if barrier:
        mounts.append({"name": BARRIER_VOLUME, "mountPath": BARRIER_MOUNT})
    return {
        "name": "trial",
        "image": role.image,
        "command": ["sh", "-c", SCRIPT, "nnifc-wrapper"],
        "env": [{"name": key, "value": value} for key, value in env.items()],
        "ports": [{"containerPort": 4000 + index}],
        "resources": {"requests": resources, "limits": dict(resources)},
        "volumeMounts": mounts,
    }


def verbatim(text: str) -> str:
    """`text` as a container env value that reaches the task unchanged: `$` doubled (Kubernetes
    reads `$$` as `$`), and every `{{` written `{$(NNIFC_LBRACE)`, no placeholder for
    FrameworkController, "{{" again once Kubernetes expands it."""
    return text.replace("$", "$$").replace("{{", "{$(" + LBRACE + ")")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else json.dumps(value)


@dataclass(frozen=True)
class Observed:
    """What a Framework's status says about its trial."""

    status: TrialStatus | None  # None: nothing new to report (a transient state)
    message: str = ""
    code: int | None = None


WAITING_STATES = {"AttemptCreationPending", "AttemptCreationRequested", "AttemptPreparing"}
TRANSIENT_STATES = {
    "AttemptDeletionPending",
    "AttemptDeletionRequested",
    "AttemptDeleting",
    "AttemptCompleted",
}


def trial_status(raw_framework: dict[str, Any]) -> Observed:
    """FrameworkController state + completion code -> trial status (frameworkcontroller.md 2.7)."""
    status = raw_framework.get("status") or {}
    state = status.get("state")
    if state is None or state in WAITING_STATES:
        return Observed(TrialStatus.WAITING)
    if state == "AttemptRunning":
        return Observed(TrialStatus.RUNNING)
    if state in TRANSIENT_STATES:
        retrying = (status.get("retryPolicyStatus") or {}).get("retryDelaySec") is not None
        return Observed(TrialStatus.WAITING if state == "AttemptCompleted" and retrying else None)
    if state != "Completed":
        return Observed(None, f"unknown FrameworkController state {state!r}")
    completion = (status.get("attemptStatus") or {}).get("completionStatus") or {}
    code = completion.get("code")
    if code == 0 or (completion.get("type") or {}).get("name") == "Succeeded":
        return Observed(TrialStatus.SUCCEEDED, code=code)
    if code == STOPPED_CODE:
        return Observed(TrialStatus.USER_CANCELED, "stopped (executionType: Stop)", code)
    return Observed(TrialStatus.FAILED, _failure(completion), code)


def _failure(completion: dict[str, Any]) -> str:
    trigger = completion.get("trigger") or {}
    where = (
        f"task {trigger['taskRoleName']}_{trigger['taskIndex']}: "
        if "taskRoleName" in trigger
        else ""
    )
    text = f"{where}{completion.get('phrase', 'Failed')} (code {completion.get('code')})"
    diagnostics = " ".join(str(completion.get("diagnostics") or "").split())
    return f"{text}: {diagnostics[:300]}" if diagnostics else text
