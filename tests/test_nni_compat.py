"""NNI's own config shapes: the example configs' keys (v1 and v2) validate and render valid
Frameworks, v2 files mean what their v1 twins mean, and v2 mistakes are located in the v2 file."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import jsonschema
import numpy as np
import pytest
from ruamel.yaml import YAML

from nnifc import config, nni_v2_keys
from nnifc.errors import ConfigError
from nnifc.experiment import FrameworkControllerExperimentConfig
from nnifc.platforms.frameworkcontroller import FrameworkControllerPlatform
from nnifc.records import TrialSpec
from tests.conftest import created_id, run_nnifc, status_json
from tests.k8sim.fixture import KubeCluster, kube_cluster

if TYPE_CHECKING:
    from tests.ganesha import Ganesha

pytest_plugins = ["tests.ganesha"]
__all__ = ["kube_cluster"]

EXAMPLES = Path(__file__).parent / "configs" / "nni"
SCHEMA = json.loads((Path(__file__).parent / "schemas/framework.schema.json").read_text())
IGNORED = {  # what each example carries that means nothing to nnifc, named in one warning
    "v1-azure.yml": ["authorName"],
    "v1-custom-manager.yml": ["authorName", "logLevel", "nniManagerIp"],
    "v1-docs-tfv1.yml": ["authorName", "assessor.gpuNum"],
    "v1-mnist-pytorch.yml": ["authorName"],
    "v2-azure.yml": [],
    "v2-full.yml": [
        "trialGpuNumber",
        "nniManagerIp",
        "logLevel",
        "debug",
        "experimentWorkingDirectory",
        "tunerGpuIndices",
    ],
    "v2-mnist-pytorch.yml": [],
}


def test_every_example_config_is_covered() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.yml")) == sorted(IGNORED)


@pytest.mark.parametrize("name", sorted(IGNORED))
def test_example_configs_validate_and_render_valid_frameworks(name: str) -> None:
    experiment = config.load(EXAMPLES / name)
    ignored = [w for w in experiment.warnings if "ignoring keys" in w]
    if IGNORED[name]:
        (warning,) = ignored
        for key in IGNORED[name]:
            assert f"{key} (line " in warning
    else:
        assert ignored == []
    assert isinstance(experiment.config, FrameworkControllerExperimentConfig)
    first = experiment.space.sample(np.random.default_rng(0))
    spec = TrialSpec("abc12345", "t0001", 0, 0, first)
    framework = YAML(typ="safe").load(
        FrameworkControllerPlatform.describe(
            FrameworkControllerPlatform.settings_of(experiment, {}), {}, spec
        )
    )
    jsonschema.validate(framework, SCHEMA)
    roles = {r["name"]: r for r in framework["spec"]["taskRoles"]}
    for role in experiment.config.trial.task_roles:
        rendered = roles[role.name]
        assert rendered["taskNumber"] == role.task_num
        pod = rendered["task"]["pod"]["spec"]
        (container,) = pod["containers"]
        assert container["image"] == role.image
        limits = container["resources"]["limits"]
        assert limits["memory"] == f"{role.memory_mb}Mi"
        assert int(limits.get("nvidia.com/gpu", 0)) == role.gpu_num
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["NNIFC_COMMAND"] == role.command


def test_v2_file_means_the_same_as_its_v1_twin() -> None:
    v1 = config.load(EXAMPLES / "v1-mnist-pytorch.yml")
    v2 = config.load(EXAMPLES / "v2-mnist-pytorch.yml")
    assert v2.config.model_dump(exclude={"author_name"}) == v1.config.model_dump(
        exclude={"author_name"}
    )
    assert (v2.tuner_options, v2.assessor_options) == (v1.tuner_options, v1.assessor_options)
    assert v2.space == v1.space


def test_max_failed_trial_number_is_v2s_max_failed_trial_num() -> None:
    v1_path, v2_path = EXAMPLES / "v1-mnist-pytorch.yml", EXAMPLES / "v2-mnist-pytorch.yml"
    assert config.load(v1_path).config.max_failed_trial_num is None
    v1_text = v1_path.read_text().rstrip("\n") + "\nmaxFailedTrialNum: 4\n"
    v2_text = v2_path.read_text().rstrip("\n") + "\nmaxFailedTrialNumber: 4\n"
    v1 = config.load(v1_path, text=v1_text)
    v2 = config.load(v2_path, text=v2_text)
    assert v1.config.max_failed_trial_num == v2.config.max_failed_trial_num == 4


def test_v2_units_follow_nni() -> None:
    assert nni_v2_keys.seconds("1.5h") == "5400s"
    assert nni_v2_keys.seconds("1H") == "3600s"
    assert nni_v2_keys.seconds("30m") == "30m"  # a v1 duration is kept as written
    assert nni_v2_keys.seconds(7200) == "7200s"
    assert nni_v2_keys.seconds(0.2) == "1s"
    assert nni_v2_keys.megabytes(8192) == 8192
    assert nni_v2_keys.megabytes("8gb") == 8192
    assert nni_v2_keys.megabytes("0.5GB") == 512
    assert nni_v2_keys.megabytes("1000kb") == 1  # NNI rounds up to whole megabytes
    assert nni_v2_keys.megabytes("1tb") == 1024 * 1024
    for bad in ("4g", "8 gigabytes", "gb", "-1gb", True, 1.5):
        with pytest.raises(ValueError, match="megabytes"):
            nni_v2_keys.megabytes(bad)
    for bad_time in ("10", "h", "0s", -5, "1w", None):
        with pytest.raises(ValueError):
            nni_v2_keys.seconds(bad_time)


V2 = (EXAMPLES / "v2-full.yml").read_text()


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "taskNumber: 1",
            "taskNumbr: 1",
            "37:7: trainingService.taskRoles[0].taskNumbr: unknown key; did you mean 'taskNumber'?",
        ),
        (
            "memorySize: 8gb",
            "memorySize: 4g",
            "41:7: trainingService.taskRoles[0].memorySize: must be megabytes",
        ),
        ("maxTrialNumber: 10", "maxTrialNumber: 0", "10:1: maxTrialNumber: must be >= 1, got 0"),
        (
            "maxTrialNumber: 10\n",
            "maxTrialNumber: 10\nmaxFailedTrialNumber: -2\n",
            "11:1: maxFailedTrialNumber: must be >= 0, got -2",
        ),
        (
            "maxExperimentDuration: 1.5h",
            "maxExperimentDuration: soon",
            "9:1: maxExperimentDuration: must be a number and a unit",
        ),
        ("name: TPE", "name: TPX", "18:3: tuner.name: unknown tuner \"TPX\"; did you mean 'TPE'?"),
        (
            "optimize_mode: maximize\nassessor",
            "optimize_mode: maximise\nassessor",
            "20:5: tuner.classArgs.optimize_mode:",
        ),
        (
            "storageType: nfs",
            "storageType: pvc",
            '32:5: trainingService.storage.storageType: must be nfs or azureStorage, got "pvc"',
        ),
        (
            "    path: /var/nfs/nni\n",
            "    path: var/nfs\n",
            "34:5: trainingService.storage.path: must be an absolute path",
        ),
        (
            "    server: 10.10.10.10\n",
            "",
            "31:3: trainingService.storage: storageType is nfs, so server is required",
        ),
        ("- name: worker", "- name: Worker", "36:7: trainingService.taskRoles[0].name: must match"),
        (
            "minSucceedTaskCount: 1",
            "minSucceededTaskCount: 1",
            "44:9: trainingService.taskRoles[0].frameworkAttemptCompletionPolicy.minSucceededTaskCount: unknown key; did you mean 'minSucceedTaskCount'?",
        ),
        (
            "trialConcurrency: 2",
            "trialConcurrency: '2'",
            '8:1: trialConcurrency: must be an integer, got "2"',
        ),
        (
            "platform: frameworkcontroller",
            "platform: kubeflow",
            '27:3: trainingService.platform: must be local or frameworkcontroller, got "kubeflow"',
        ),
        (
            "  reuseMode: true\n",
            "  configPath: fc_template.yml\n",
            "28:3: trainingService.configPath: custom Framework templates (configPath) are not supported",
        ),
        (
            "trialCodeDirectory: code",
            "trialCodeDirectory: nowhere",
            "6:1: trialCodeDirectory: no such directory",
        ),
        (
            "searchSpaceFile: search_space.json",
            "searchSpaceFile: missing.json",
            "4:1: searchSpaceFile: no such file",
        ),
    ],
)
def test_v2_mistakes_are_located_in_the_v2_file(old: str, new: str, expected: str) -> None:
    assert old in V2
    path = EXAMPLES / "v2-full.yml"
    with pytest.raises(ConfigError) as caught:
        config.load(path, text=V2.replace(old, new, 1))
    assert f"{path}:{expected}" in str(caught.value)


def test_v1_and_v2_keys_in_one_file_are_refused_clearly() -> None:
    text = (EXAMPLES / "v1-mnist-pytorch.yml").read_text() + "maxTrialNumber: 5\n"
    with pytest.raises(
        ConfigError, match=r"maxTrialNumber: unknown key; did you mean 'maxTrialNum'"
    ):
        config.load(EXAMPLES / "v1-mnist-pytorch.yml", text=text)


def test_nni_custom_template_config_is_refused_with_the_reason() -> None:
    """NNI's config_frameworkcontroller_custom.yml: storage pvc with a Framework template."""
    text = (EXAMPLES / "v1-mnist-pytorch.yml").read_text()
    text = text.split("frameworkcontrollerConfig:")[0] + textwrap.dedent("""\
        frameworkcontrollerConfig:
          configPath: fc_template.yml
          storage: pvc
          namespace: "default"
          pvc:
            path: "/tmp/data"
        """)
    with pytest.raises(ConfigError) as caught:
        config.load(EXAMPLES / "v1-mnist-pytorch.yml", text=text)
    found = {(p.key, p.message) for p in caught.value.problems}
    assert ("frameworkcontrollerConfig.configPath", "unknown key") in found
    assert ("frameworkcontrollerConfig.pvc", "unknown key") in found
    assert (
        "frameworkcontrollerConfig.storage",
        "must be one of 'nfs' or 'azureStorage', got \"pvc\"",
    ) in found


def test_a_v2_local_experiment_runs(tmp_path: Path, home: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "trial.py").write_text(
        "import nni\np = nni.get_next_parameter()\nnni.report_final_result(p['x'] * 2)\n"
    )
    (tmp_path / "exp.yml").write_text(
        textwrap.dedent("""\
        searchSpace:
          x: {_type: uniform, _value: [0, 1]}
        trialCommand: python3 trial.py
        trialCodeDirectory: code
        trialConcurrency: 2
        maxTrialNumber: 3
        maxExperimentDuration: 10m
        tuner: {name: Random, classArgs: {optimize_mode: maximize, seed: 1}}
        trainingService: {platform: local, useActiveGpu: false}
        """)
    )
    result = run_nnifc("create", "--config", str(tmp_path / "exp.yml"))
    assert result.returncode == 0, result.stderr
    trials = status_json(created_id(result))["trials"]
    assert [t["status"] for t in trials] == ["SUCCEEDED"] * 3
    assert all(t["final"] == t["parameters"]["x"] * 2 for t in trials)


def test_v2_dry_run_against_a_cluster_prints_a_valid_framework(
    kube_cluster: KubeCluster, nfs_server: Ganesha, tmp_path: Path, home: Path
) -> None:
    kube_cluster.nfs_exports[(nfs_server.server, nfs_server.path)] = nfs_server.local_dir
    text = (EXAMPLES / "v2-mnist-pytorch.yml").read_text()
    text = text.replace("10.10.10.10", nfs_server.server).replace("/var/nfs/nni", nfs_server.path)
    text = text.replace("search_space.json", str(EXAMPLES / "search_space.json"))
    text = text.replace("trialCodeDirectory: code", f"trialCodeDirectory: {EXAMPLES / 'code'}")
    (tmp_path / "exp.yml").write_text(text)
    result = run_nnifc("create", "--config", str(tmp_path / "exp.yml"), "--dry-run")
    assert result.returncode == 0, result.stderr
    body = result.stdout.split("the first trial's Framework:\n", 1)[1].split("checks passed")[0]
    framework = YAML(typ="safe").load(body)
    jsonschema.validate(framework, SCHEMA)
    assert framework["spec"]["taskRoles"][0]["task"]["pod"]["spec"]["containers"][0]["resources"][
        "limits"
    ] == {"cpu": "1", "memory": "8192Mi", "nvidia.com/gpu": "1"}
    assert not home.exists() and kube_cluster.created("frameworks") == []


ANNOTATED = Path(__file__).parent / "annotated" / "mnist"


def test_an_annotated_trial_runs_with_the_search_space_nni_would_generate(
    tmp_path: Path, home: Path
) -> None:
    """NNI's mnist-annotation example shape: no searchSpacePath, the code declares the space."""
    (tmp_path / "exp.yml").write_text(
        textwrap.dedent(f"""\
        authorName: default
        experimentName: example_mnist_annotation
        trialConcurrency: 2
        maxExecDuration: 1h
        maxTrialNum: 3
        trainingServicePlatform: local
        useAnnotation: true
        tuner:
          builtinTunerName: TPE
          classArgs: {{optimize_mode: maximize, seed: 5}}
        trial:
          command: python3 mnist.py
          codeDir: {ANNOTATED}
          gpuNum: 0
        """)
    )
    experiment = config.load(tmp_path / "exp.yml")
    assert sorted(experiment.space) == [
        "mnist/batch_size/choice",
        "mnist/dropout_rate/choice",
        "mnist/max_pool/function_choice",
        "mnist/relu/function_choice",
        "mnist/self.conv_size/choice",
        "mnist/self.hidden_size/choice",
        "mnist/self.learning_rate/loguniform",
    ]
    result = run_nnifc("create", "--config", str(tmp_path / "exp.yml"))
    assert result.returncode == 0, result.stderr
    trials = status_json(created_id(result))["trials"]
    assert [t["status"] for t in trials] == ["SUCCEEDED"] * 3
    for trial in trials:
        used = json.loads(
            run_nnifc("logs", trial["id"]).stdout.split("USED ", 1)[1].splitlines()[0]
        )
        params = trial["parameters"]
        assert used["conv_size"] == params["mnist/self.conv_size/choice"]
        assert used["learning_rate"] == params["mnist/self.learning_rate/loguniform"]
        assert used["batch_size"] == params["mnist/batch_size/choice"]
        assert trial["final"] == used["final"]
    # the user's code is untouched: trials ran an expanded copy kept with the experiment
    assert "nni.variable" in (ANNOTATED / "mnist.py").read_text()


def test_annotations_and_a_search_space_file_together_are_refused(tmp_path: Path) -> None:
    (tmp_path / "space.json").write_text('{"x": {"_type": "choice", "_value": [1]}}')
    (tmp_path / "exp.yml").write_text(
        textwrap.dedent(f"""\
        experimentName: both
        trialConcurrency: 1
        trainingServicePlatform: local
        searchSpacePath: space.json
        useAnnotation: true
        tuner: {{builtinTunerName: Random}}
        trial: {{command: python3 mnist.py, codeDir: {ANNOTATED}}}
        """)
    )
    with pytest.raises(
        ConfigError, match=r"exp.yml:4:1: searchSpacePath: not used with useAnnotation"
    ):
        config.load(tmp_path / "exp.yml")


def test_a_bad_annotation_is_reported_at_its_line_before_anything_runs(
    tmp_path: Path, home: Path
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text('x = 1\n"""@nni.variable(nni.choise(1, 2), name=x)"""\nx = 2\n')
    (tmp_path / "exp.yml").write_text(
        "experimentName: bad\ntrialConcurrency: 1\ntrainingServicePlatform: local\n"
        "useAnnotation: true\ntuner: {builtinTunerName: Random}\n"
        "trial: {command: python3 train.py, codeDir: code}\n"
    )
    result = run_nnifc("create", "--config", str(tmp_path / "exp.yml"))
    assert result.returncode == 1
    assert f"{code / 'train.py'}:2:" in result.stderr
    assert not home.exists()
