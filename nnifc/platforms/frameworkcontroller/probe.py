"""`nnifc doctor --probe`: which nni the trial image has, from one tiny trial run as any other.

Why through the platform itself: the probe then proves what a trial needs (the image pulls, the
storage mounts, the wrapper runs) and reads the version the wrapper records for versionCheck.
The probe's Framework, Secrets and files are removed whatever happens.
"""

from __future__ import annotations

import contextlib
import secrets
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from nnifc.errors import NnifcError
from nnifc.platforms.checkup import Check, failed, passed
from nnifc.platforms.frameworkcontroller import manifest
from nnifc.platforms.frameworkcontroller.platform import FrameworkControllerPlatform
from nnifc.platforms.frameworkcontroller.settings import FrameworkControllerSettings
from nnifc.records import StatusChanged, TrialSpec, TrialStatus
from nnifc.wrapper import SUPPORTED_NNI, VERSION_NAME

PROBE_SECONDS = 300.0  # an image pull may take minutes
NAME = "trial image's nni"


def nni_version(
    settings: FrameworkControllerSettings,
    options: Mapping[str, str],
    *,
    timeout: float = PROBE_SECONDS,
) -> Check:
    role = settings.trial.task_roles[0]
    with tempfile.TemporaryDirectory(prefix="nnifc-probe-") as scratch:
        code = Path(scratch) / "code"
        code.mkdir()
        probe_role = role.model_copy(update={"task_num": 1, "command": "true"})
        probe_role = probe_role.model_copy(
            update={
                "framework_attempt_completion_policy": role.framework_attempt_completion_policy.model_copy(
                    update={"min_failed_task_count": 1, "min_succeeded_task_count": 1}
                )
            }
        )
        fc = settings.frameworkcontroller_config.model_copy(update={"framework_barrier": False})
        probe_settings = settings.model_copy(
            update={
                "trial": settings.trial.model_copy(
                    update={"task_roles": [probe_role], "code_dir": code}
                ),
                "frameworkcontroller_config": fc,
                "version_check": False,
                "trial_concurrency": 1,
                "assessed": False,
            }
        )
        experiment_id = f"dr{secrets.token_hex(3)}"
        platform = FrameworkControllerPlatform(
            probe_settings, Path(scratch) / experiment_id, options
        )
        try:
            return _run(platform, role.image, timeout)
        finally:
            _remove(platform)


def _run(platform: FrameworkControllerPlatform, image: str, timeout: float) -> Check:
    spec = TrialSpec(platform.experiment_id, "probe", 0, 0, {})
    platform.prepare()
    platform.submit(spec)
    deadline, waiting = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        for event in platform.poll(1.0):
            if not isinstance(event, StatusChanged):
                continue
            if event.status is TrialStatus.WAITING:
                waiting = event.message
            elif event.status.final:
                return _read(platform, image, spec, event)
    why = f"its pod was still pending after {timeout:.0f} s" + (f": {waiting}" if waiting else "")
    return failed(NAME, f"a probe trial on {image}: {why}", _image_fix(image))


def _read(
    platform: FrameworkControllerPlatform, image: str, spec: TrialSpec, ended: StatusChanged
) -> Check:
    task = f"{platform.config.trial.task_roles[0].name}_0"
    path = f"{manifest.trial_root(spec.experiment_id, spec.trial_id)}/output/{task}/{VERSION_NAME}"
    version = platform.storage.read(path, 0, 256).decode(errors="replace").strip()
    if ended.status is not TrialStatus.SUCCEEDED and not version:
        return failed(
            NAME,
            f"the probe trial on {image} {ended.status.value}: {ended.message}",
            _image_fix(image),
        )
    low, high = ("{}.{}".format(*v) for v in SUPPORTED_NNI)
    if not version:
        fix = f"install nni {low} to {high} in {image} (pip install nni), or set versionCheck: false if trials do not use it"
        return failed(NAME, f"{image}: its python3 cannot import nni", fix)
    parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    if len(parts) == 2 and not SUPPORTED_NNI[0] <= parts <= SUPPORTED_NNI[1]:
        return failed(NAME, f"{image} has nni {version}", f"use nni {low} to {high} in the image")
    return passed(NAME, f"{image} has nni {version}")


def _image_fix(image: str) -> str:
    return f"check that {image} exists and this cluster may pull it (imagePullSecrets via privateRegistryAuthPath)"


def _remove(platform: FrameworkControllerPlatform) -> None:
    """Best effort: a removal that fails leaves what `nnifc stop --orphans` finds."""
    for step in (
        platform.cleanup,
        lambda: platform.drain(30.0),
        platform.remove_storage,
        platform.close,
    ):
        with contextlib.suppress(NnifcError):
            step()
