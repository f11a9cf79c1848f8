"""framework.manifest() meets the Framework contract for any valid config; trial_status() table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnifc.experiment import FrameworkControllerExperimentConfig
from nnifc.platforms.frameworkcontroller import manifest as framework
from nnifc.platforms.frameworkcontroller.settings import FrameworkControllerSettings
from nnifc.records import TrialSpec, TrialStatus
from nnifc.wrapper import parameter_cfg
from tests.k8sim.containers import expand

SCHEMA = json.loads((Path(__file__).parent / "schemas/framework.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
# what FrameworkController puts for its placeholders in one task's pod
PLACEHOLDERS = {
    "FC_FRAMEWORK_NAMESPACE": "default",
    "FC_FRAMEWORK_NAME": "fw",
    "FC_TASKROLE_NAME": "role",
    "FC_TASK_INDEX": "0",
    "FC_CONFIGMAP_NAME": "fw-attempt",
    "FC_POD_NAME": "fw-role-0",
}
# text that FrameworkController or Kubernetes would rewrite, unless nnifc escapes it
PIECES = ["{", "}", "{{", "}}", "$", "$$", "(", ")", "{{FC_POD_NAME}}", "$(NNIFC_LBRACE)"]
PIECES += ["$(NNI_EXP_ID)", "NNIFC_LBRACE", "a", " ", "'", "\\"]
TRICKY = st.lists(
    st.sampled_from(PIECES),
    min_size=1,
    max_size=12,
).map("".join)


def delivered_env(role: dict[str, Any]) -> dict[str, str]:
    """A task role's container env as its task sees it: FrameworkController's placeholders
    replaced in the pod (as tests/k8sim does), then Kubernetes' `$(VAR)` expansion, in order."""
    text = json.dumps(role["task"]["pod"])
    for key, value in PLACEHOLDERS.items():
        text = text.replace("{{" + key + "}}", value)
    (container,) = json.loads(text)["spec"]["containers"]
    env: dict[str, str] = {}
    for item in container["env"]:
        env[item["name"]] = expand(item["value"], env)
    return env


roles = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.sampled_from(["worker", "ps", "chief", "evaluator", "w0", "a" * 63]),
            "taskNum": st.integers(1, 6),
            "command": st.one_of(st.text(min_size=1, max_size=40), TRICKY).filter(
                lambda c: c.strip() != "" and "\0" not in c
            ),
            "gpuNum": st.integers(0, 4),
            "cpuNum": st.one_of(
                st.integers(1, 64), st.floats(0.1, 32, allow_nan=False).map(lambda f: round(f, 2))
            ),
            "memoryMB": st.integers(1, 1 << 20),
            "image": st.sampled_from(
                [
                    "msranni/nni:latest",
                    "python:3.11-slim",
                    "registry.example.com/team/img@sha256:ab",
                ]
            ),
            "frameworkAttemptCompletionPolicy": st.fixed_dictionaries(
                {
                    "minFailedTaskCount": st.integers(-1, 3),
                    "minSucceededTaskCount": st.integers(-1, 3),
                }
            ),
            "auth": st.booleans(),
        }
    ),
    min_size=1,
    max_size=3,
    unique_by=lambda r: r["name"],
)


def as_settings(config: FrameworkControllerExperimentConfig) -> FrameworkControllerSettings:
    """The platform's settings from a config validated without a storage (the manifest's input)."""
    return FrameworkControllerSettings(
        trial=config.trial,
        frameworkcontroller_config=config.frameworkcontroller_config,
        storage_options={},
        version_check=config.version_check,
        trial_concurrency=config.trial_concurrency,
        assessed=False,
    )


def build(
    tmp_path: Path, role_list: list[dict[str, Any]], extra: dict[str, Any]
) -> FrameworkControllerSettings:
    (tmp_path / "code").mkdir(exist_ok=True)
    (tmp_path / "auth.json").write_text('{"auths": {}}')
    task_roles = []
    for role in role_list:
        role = dict(role)
        if role.pop("auth"):
            role["privateRegistryAuthPath"] = "auth.json"
        task_roles.append(role)
    data = {
        "experimentName": "m",
        "trialConcurrency": 1,
        "trainingServicePlatform": "frameworkcontroller",
        "trial": {"codeDir": "code", "taskRoles": task_roles},
        "frameworkcontrollerConfig": extra,
    }
    return as_settings(
        FrameworkControllerExperimentConfig.model_validate(data, context={"base_dir": tmp_path})
    )


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    role_list=roles,
    extra=st.fixed_dictionaries(
        {},
        optional={
            "serviceAccountName": st.sampled_from(["frameworkbarrier", "nni"]),
            "frameworkBarrier": st.booleans(),
            "namespace": st.sampled_from(["default", "team-a"]),
        },
    ),
    params=st.dictionaries(
        st.text(max_size=8),
        st.one_of(st.integers(), st.text(max_size=10), st.floats(allow_nan=False), TRICKY),
        max_size=4,
    ),
)
def test_every_manifest_meets_the_schema(
    tmp_path: Path, role_list: list[dict[str, Any]], extra: dict[str, Any], params: dict[str, Any]
) -> None:
    config = build(tmp_path, role_list, extra)
    spec = TrialSpec("abcd1234", "xy9z0", 7, 7, params)
    pulls = framework.pull_secrets(config, spec.experiment_id)
    body = framework.manifest(
        spec,
        config,
        namespace="default",
        volume={"name": framework.STORAGE_VOLUME, "nfs": {"server": "10.0.0.1", "path": "/x"}},
        pull_secrets=pulls,
    )
    errors = sorted(VALIDATOR.iter_errors(body), key=str)
    assert not errors, errors[0]
    assert body["metadata"]["name"] == "nniexpabcd1234trialxy9z0"
    for role, raw_role in zip(body["spec"]["taskRoles"], role_list, strict=True):
        (container,) = role["task"]["pod"]["spec"]["containers"]
        env = {e["name"]: e["value"] for e in container["env"]}
        task_sees = delivered_env(role)  # passed as data, never spliced into shell
        assert task_sees["NNIFC_COMMAND"] == raw_role["command"]
        assert task_sees["NNIFC_PARAMETERS"] == parameter_cfg(spec)
        assert (
            env["NNI_OUTPUT_DIR"]
            == f"/tmp/mount/nni/abcd1234/xy9z0/output/{raw_role['name']}_{{{{FC_TASK_INDEX}}}}"
        )
        assert ("CUDA_VISIBLE_DEVICES" in env) == (raw_role["gpuNum"] == 0)
        assert all(isinstance(v, str) for v in env.values())
        assert container["resources"]["limits"].get("nvidia.com/gpu") == (
            str(raw_role["gpuNum"]) if raw_role["gpuNum"] else None
        )
        assert ("imagePullSecrets" in role["task"]["pod"]["spec"]) == raw_role["auth"]


def state(
    name: str | None, code: int | None = None, kind: str | None = None, **extra: Any
) -> dict[str, Any]:
    if name is None:
        return {"metadata": {"name": "f"}}
    completion = (
        None
        if code is None
        else {"code": code, "phrase": "Phrase", "type": {"name": kind or "Failed"}, **extra}
    )
    return {
        "status": {
            "state": name,
            "attemptStatus": {"completionStatus": completion},
            "retryPolicyStatus": {},
        }
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (state(None), TrialStatus.WAITING),
        (state("AttemptCreationPending"), TrialStatus.WAITING),
        (state("AttemptCreationRequested"), TrialStatus.WAITING),
        (state("AttemptPreparing"), TrialStatus.WAITING),
        (state("AttemptRunning"), TrialStatus.RUNNING),
        (state("AttemptDeletionPending", 0, "Succeeded"), None),
        (state("AttemptDeleting", -210), None),
        (state("AttemptCompleted", 1), None),
        (state("Completed", 0, "Succeeded"), TrialStatus.SUCCEEDED),
        (state("Completed", -210), TrialStatus.USER_CANCELED),
        (state("Completed", 3), TrialStatus.FAILED),
        (state("Completed", -220), TrialStatus.FAILED),
    ],
)
def test_state_table(raw: dict[str, Any], expected: TrialStatus | None) -> None:
    assert framework.trial_status(raw).status is expected


def test_failure_message_names_the_task_and_the_code() -> None:
    raw = state(
        "Completed",
        3,
        trigger={"taskRoleName": "worker", "taskIndex": 1},
        diagnostics="exit 3\n tail",
    )
    observed = framework.trial_status(raw)
    assert observed.message == "task worker_1: Phrase (code 3): exit 3 tail"
    assert observed.code == 3


def test_retry_scheduled_is_waiting() -> None:
    raw = state("AttemptCompleted", 1)
    raw["status"]["retryPolicyStatus"] = {"retryDelaySec": 5}
    assert framework.trial_status(raw).status is TrialStatus.WAITING


def test_our_copy_of_the_schema_is_the_contract() -> None:
    shared = Path(__file__).parents[2] / "shared/schemas/framework.schema.json"
    if not shared.is_file():
        pytest.skip("the steering repository's shared/ is not beside this checkout")
    assert json.loads(shared.read_text()) == SCHEMA
