"""The POSIX-sh wrapper every task runs in, and the files and environment it is given.

The same script runs a local trial and each task of a Framework: it runs the user's
command exactly as written (passed in $NNIFC_COMMAND, never spliced into shell text, so quotes,
`$` and newlines need no escaping), tees its stdout+stderr to a file the launcher reads for
metrics and logs, and records the command's exit code in a file that outlives the process.
A Framework's tasks are given their parameter.cfg in $NNIFC_PARAMETERS and write it themselves
(each task writes the same text and renames it into place): the launcher makes no storage call to
start a trial. A local trial's launcher writes the file itself.
It makes `$NNI_SYS_DIR/.nni` first: the tasks of a Framework share NNI_SYS_DIR, as under NNI, and
the SDK creates that directory after checking it is absent, so tasks starting together raced and
one failed with "File exists".
Before the command it records the nni version the task's python (python3 on PATH) imports
(versionCheck), and stops the task when that python has no nni, or a version outside what nnifc
supports, and the check is on: with a log line naming that python and the fix, which the
launcher shows as the trial's failure, instead of the user's ModuleNotFoundError.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from nnifc.records import TrialSpec
from nnifc.stages import SAVE_KEY

SCRIPT = """\
#!/bin/sh
# nnifc task wrapper (generated): run $NNIFC_COMMAND, tee its output to $NNIFC_LOG, keep its exit code.
mkdir -p "$NNI_OUTPUT_DIR" "$NNI_SYS_DIR/.nni" "$(dirname "$NNIFC_LOG")" || exit 70
exec 2>>"$NNIFC_LOG"
if [ -n "${NNIFC_CODE_SRC:-}" ]; then
  mkdir -p "$NNIFC_WORKDIR" && cp -R "$NNIFC_CODE_SRC/." "$NNIFC_WORKDIR/" || exit 70
fi
if [ -f /mnt/frameworkbarrier/injector.sh ]; then . /mnt/frameworkbarrier/injector.sh; fi
cd "$NNIFC_WORKDIR" || exit 70
if [ -n "${NNIFC_PARAMETERS:-}" ]; then
  printf '%s' "$NNIFC_PARAMETERS" > "$NNI_OUTPUT_DIR/parameter.cfg.tmp" &&
    mv -f "$NNI_OUTPUT_DIR/parameter.cfg.tmp" "$NNI_SYS_DIR/parameter.cfg" || exit 70
fi
rm -f "$NNIFC_EXIT"
if [ -n "${NNIFC_SAVE_DIR:-}" ]; then
  save_dir=$(printf "${NNIFC_SAVE_DIR}x") && save_dir=${save_dir%x} &&
    ( [ -z "${NNIFC_UMASK:-}" ] || umask "$NNIFC_UMASK"; mkdir -p -- "$save_dir" ) || {
    echo "nnifc: cannot create save_checkpoint_dir $save_dir" | tee -a "$NNIFC_LOG"
    echo 70 > "$NNIFC_EXIT"
    exit 70
  }
fi
if [ -n "${NNIFC_VERSION_CHECK:-}" ]; then
  python=$(command -v python3 || command -v python)
  found=$("${python:-python3}" -c "$NNIFC_NNI_PROBE" 2>/dev/null)
  version=$(printf '%s\n' "$found" | sed -n 1p)
  number=$(printf '%s\n' "$found" | sed -n 2p)
  printf '%s\n' "$version" > "$NNI_OUTPUT_DIR/nni_version"
  said="" fix=" (versionCheck is true)"
  unless="(versionCheck: false if the trial does not use nni)"
  if [ -z "$python" ]; then
    said="nnifc: there is no python3 or python on PATH ($PATH), so the task cannot import nni"
    fix="; put a python that has nni on PATH $unless"
  elif [ -z "$version" ]; then
    said="nnifc: $python cannot import nni"
    fix="; install it there ($python -m pip install nni) or put the python that has it first on PATH $unless"
  elif [ -n "$number" ] && { [ "$number" -lt "$NNIFC_NNI_MIN" ] || [ "$number" -gt "$NNIFC_NNI_MAX" ]; }; then
    said="nnifc: the task's python has nni $version, but nnifc supports nni $NNIFC_NNI_RANGE"
  fi
  if [ -n "$said" ] && [ "$NNIFC_VERSION_CHECK" = fail ]; then
    echo "$said$fix" | tee -a "$NNIFC_LOG"
    echo 71 > "$NNIFC_EXIT"
    exit 71
  fi
  if [ -n "$said" ]; then echo "$said; running anyway (versionCheck is false)" | tee -a "$NNIFC_LOG"; fi
fi
{ ( [ -z "${NNIFC_UMASK:-}" ] || umask "$NNIFC_UMASK"; exec sh -c "$NNIFC_COMMAND" ) 2>&1
  echo "$?" > "$NNIFC_EXIT.tmp"; mv -f "$NNIFC_EXIT.tmp" "$NNIFC_EXIT"; } | tee -a "$NNIFC_LOG"
if [ -f "$NNIFC_EXIT" ]; then exit "$(cat "$NNIFC_EXIT")"; fi
exit 70
"""
LOG_NAME = "stdout"
EXIT_NAME = "exitcode"
VERSION_NAME = "nni_version"
# nni 1.0 to 3.0 print metrics in the one format nnifc reads; major * 1000 + minor, so 2.10 > 2.9
SUPPORTED_NNI = ((1, 0), (3, 0))
# Prints the version of the nni the task's python would import, then major * 1000 + minor;
# nothing when there is none. From the dist-info directory beside that package (0.04 s of CPU,
# where importing nni 3.0 takes two seconds), else from the package itself: importlib.metadata
# could name another installation than the one imported (nni on PYTHONPATH over site-packages).
NNI_PROBE = """\
import importlib.util, os, re
spec = importlib.util.find_spec("nni")
if spec:
    try:
        listed = os.listdir(os.path.dirname(os.path.dirname(spec.origin or "")) or ".")
    except OSError:
        listed = []
    named = [m[1] for m in map(re.compile(r"nni-([^-]+)\\.dist-info\\Z").match, listed) if m]
    if len(named) == 1:
        found = named[0]
    else:
        import nni
        found = str(nni.__version__)
    parts = re.match(r"(\\d+)\\.(\\d+)", found)
    print(found)
    print(int(parts[1]) * 1000 + int(parts[2]) if parts else "")
"""


def parameter_cfg(spec: TrialSpec) -> str:
    """parameter.cfg exactly as NNI's dispatcher writes it; the SDK reads it at get_next_parameter()."""
    return json.dumps(
        {
            "parameter_id": spec.parameter_id,
            "parameter_source": "algorithm",
            "parameters": dict(spec.params),
            "parameter_index": 0,
        }
    )


def task_env(
    spec: TrialSpec,
    *,
    sys_dir: PurePath,
    task: str,
    command: str,
    workdir: PurePath,
    version_check: bool = True,
) -> dict[str, str]:
    """What unmodified `import nni` code needs (nni 1.x-3.x), plus the wrapper's own inputs.

    NNI_PLATFORM is "frameworkcontroller" on every platform: it makes the SDK print metrics to
    stdout, which is the one transport nnifc reads.
    """
    output_dir = sys_dir / "output" / task
    return {
        "NNI_PLATFORM": "frameworkcontroller",
        "NNI_EXP_ID": spec.experiment_id,
        "NNI_TRIAL_JOB_ID": spec.trial_id,
        "NNI_TRIAL_SEQ_ID": str(spec.sequence),
        "NNI_SYS_DIR": str(sys_dir),
        "NNI_OUTPUT_DIR": str(output_dir),
        "MULTI_PHASE": "false",
        "PYTHONUNBUFFERED": "1",
        "NNIFC_COMMAND": command,
        "NNIFC_WORKDIR": str(workdir),
        "NNIFC_LOG": str(output_dir / LOG_NAME),
        "NNIFC_EXIT": str(output_dir / EXIT_NAME),
        "NNIFC_VERSION_CHECK": "fail" if version_check else "warn",
        "NNIFC_NNI_PROBE": NNI_PROBE,
        "NNIFC_NNI_MIN": str(_number(SUPPORTED_NNI[0])),
        "NNIFC_NNI_MAX": str(_number(SUPPORTED_NNI[1])),
        "NNIFC_NNI_RANGE": "{}.{} to {}.{}".format(*SUPPORTED_NNI[0], *SUPPORTED_NNI[1]),
    } | _save_dir(spec.params)


def _save_dir(params: Mapping[str, Any]) -> dict[str, str]:
    """PBT's save_checkpoint_dir, which the wrapper creates before the command. As printf octal
    escapes: data to the shell, and untouched by Kubernetes' `$` and FrameworkController's `{{`."""
    path = params.get(SAVE_KEY)
    if not isinstance(path, str) or not path.startswith("/") or "\0" in path:
        return {}
    try:
        raw = path.encode("utf-8")
    except UnicodeEncodeError:
        return {}
    return {"NNIFC_SAVE_DIR": "".join(f"\\{byte:03o}" for byte in raw)}


def _number(version: tuple[int, int]) -> int:
    return version[0] * 1000 + version[1]


def parse_exit_code(text: bytes) -> int | None:
    """The content of a task's exit code file; None when absent or not a number yet."""
    try:
        return int(text.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        return None
