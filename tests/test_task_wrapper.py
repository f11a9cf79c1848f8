"""The task wrapper with the real nni SDK: the tasks of one trial share its NNI_SYS_DIR (as they
did under NNI), and the SDK creates `$NNI_SYS_DIR/.nni` after checking that it is absent, so
tasks starting together raced; one of them failed with "File exists" (seen in the FC simulator).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from nnifc.records import TrialSpec
from nnifc.wrapper import EXIT_NAME, SCRIPT, parameter_cfg, task_env
from tests.conftest import VENV_BIN

# Widens the SDK's check-then-create window to 2 s, so tasks that start together always meet in it.
SLOW_CHECK = """\
import os, time
_exists = os.path.exists
def _slow(path):
    found = _exists(path)
    if str(path).endswith(".nni"):
        time.sleep(2)
    return found
os.path.exists = _slow
"""
TRIAL = "import nni; print(nni.get_next_parameter()['x']); nni.report_final_result(1.0)"


def test_tasks_of_one_trial_start_nni_together(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(SLOW_CHECK)
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "trial.py").write_text(TRIAL)
    spec = TrialSpec("exp00001", "trial", 0, 0, {"x": 3})
    sys_dir = tmp_path / "trial"
    tasks = []
    for task in ("ps_0", "worker_0", "worker_1"):
        env = task_env(
            spec,
            sys_dir=sys_dir,
            task=task,
            command="python trial.py",
            workdir=tmp_path / "code",
            version_check=False,
        )
        env |= {
            "PATH": VENV_BIN + os.pathsep + os.environ["PATH"],
            "PYTHONPATH": str(tmp_path / "site"),
            "NNIFC_PARAMETERS": parameter_cfg(spec),
        }
        command = ["sh", "-c", SCRIPT, "wrapper"]
        tasks.append((task, subprocess.Popen(command, env=env, stdout=subprocess.PIPE)))
    for task, process in tasks:
        out, _ = process.communicate(timeout=60)
        log = (sys_dir / "output" / task / "stdout").read_text()
        assert process.returncode == 0, log.strip().splitlines()[-1]
        assert out.decode().splitlines()[0] == "3"
        assert (sys_dir / "output" / task / EXIT_NAME).read_text().strip() == "0"
