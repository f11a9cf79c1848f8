"""End to end on FrameworkController: parameters and the trial command reach the task exactly as
written, though FrameworkController replaces `{{FC_...}}` placeholders in the pod it creates and
Kubernetes expands `$(VAR)` (and `$$`) in container env values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import jsonschema
from ruamel.yaml import YAML

from tests.conftest import created_id, run_nnifc, status_json
from tests.fcconfig import Role, fc_config, nfs_storage
from tests.k8sim.fixture import KubeCluster, kube_cluster
from tests.test_framework import delivered_env

if TYPE_CHECKING:
    from tests.ganesha import Ganesha

pytest_plugins = ["tests.ganesha"]
__all__ = ["kube_cluster"]

SCHEMA = json.loads((Path(__file__).parent / "schemas/framework.schema.json").read_text())
VALUE = "{{FC_POD_NAME}} {{{FC_TASKROLE_NAME}}}} $(NNI_EXP_ID) $$ $${{FC_TASK_INDEX}}"
COMMAND = "python3 trial.py '{{FC_FRAMEWORK_NAME}}' '$$(NNIFC_WORKDIR) {{FC_POD_NAME}}' \"$HOME\""
TRIAL = """\
    import json
    import sys
    import nni

    params = nni.get_next_parameter()
    print("PARAMS " + json.dumps(params), flush=True)
    print("ARGV " + json.dumps(sys.argv[1:]), flush=True)
    nni.report_final_result(1.0)
"""


def write_config(tmp_path: Path, nfs: Ganesha) -> Path:
    return fc_config(
        tmp_path,
        nfs_storage(nfs.server, nfs.path),
        trial=TRIAL,
        space={"tag": {"_type": "choice", "_value": [VALUE]}},
        name="placeholders",
        roles=(Role(command=COMMAND),),
    )


def test_placeholders_in_parameters_and_command_reach_the_task_verbatim(
    kube_cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path, home: Path
) -> None:
    kube_cluster.nfs_exports[(nfs_server.server, nfs_server.path)] = nfs_server.local_dir
    config = write_config(tmp_path, nfs_server)
    result = run_nnifc("create", "--config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    exp_id = created_id(result)
    (trial,) = status_json(exp_id)["trials"]
    assert trial["status"] == "SUCCEEDED", trial["message"]
    assert trial["parameters"] == {"tag": VALUE}
    logs = run_nnifc("logs", trial["id"], "--role", "worker")
    assert logs.returncode == 0, logs.stderr
    printed = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in logs.stdout.splitlines()}
    assert json.loads(printed["PARAMS"]) == {"tag": VALUE}
    argv = json.loads(printed["ARGV"])
    assert argv[:2] == ["{{FC_FRAMEWORK_NAME}}", "$$(NNIFC_WORKDIR) {{FC_POD_NAME}}"], argv
    cfg = nfs_server.local_dir / "nni" / exp_id / trial["id"] / "parameter.cfg"
    assert json.loads(cfg.read_text())["parameters"] == {"tag": VALUE}
    (body,) = kube_cluster.created("frameworks")
    jsonschema.validate(body, SCHEMA)


def test_dry_run_shows_a_readable_framework_that_carries_them_verbatim(
    kube_cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path, home: Path
) -> None:
    result = run_nnifc("create", "--config", str(write_config(tmp_path, nfs_server)), "--dry-run")
    assert result.returncode == 0, result.stderr
    text = result.stdout.split("the first trial's Framework:\n", 1)[1].split("checks passed")[0]
    body = YAML(typ="safe").load(text)
    jsonschema.validate(body, SCHEMA)
    (role,) = body["spec"]["taskRoles"]
    task_sees = delivered_env(role)
    assert task_sees["NNIFC_COMMAND"] == COMMAND
    assert json.loads(task_sees["NNIFC_PARAMETERS"])["parameters"] == {"tag": VALUE}
    # escaped only where it must be: the rest reads as written
    assert "python3 trial.py '{$(NNIFC_LBRACE)FC_FRAMEWORK_NAME}}' '$$$$(NNIFC_WORKDIR)" in text
