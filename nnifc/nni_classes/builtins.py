"""NNI's builtin algorithms nnifc has no native version of, run through the class adapters.

Why a fixed table rather than NNI's registry (nni/runtime/default_config/builtin_algorithms.yml):
without nni installed the loader must still know that `SMAC` is NNI's, to say what to install.
`pip` is each algorithm's own dependencies (NNI's extras smac, dngo, ppotuner); all of them
default to optimize_mode maximize, as their `__init__`s do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from nnifc.nni_classes.loading import ClassSource


@dataclass(frozen=True)
class Builtin:
    module: str
    class_name: str
    pip: str


_SMAC = Builtin("nni.algorithms.hpo.smac_tuner", "SMACTuner", "smac4nni ConfigSpaceNNI")
_DNGO = Builtin("nni.algorithms.hpo.dngo_tuner", "DNGOTuner", "pybnn torch")
_PPO = Builtin("nni.algorithms.hpo.ppo_tuner", "PPOTuner", "gym tensorflow")
_MORPH = Builtin("nni.algorithms.hpo.networkmorphism_tuner", "NetworkMorphismTuner", "torch")

# builtinTunerName (NNI's names and aliases) -> NNI's class
NNI_TUNERS: dict[str, Builtin] = {
    "SMAC": _SMAC,
    "DNGO": _DNGO,
    "DNGOTuner": _DNGO,
    "PPO": _PPO,
    "PPOTuner": _PPO,
    "NetworkMorphism": _MORPH,
}
NNI_DEFAULT_MODE: Literal["maximize"] = "maximize"


def builtin_source(name: str, name_key: str, class_args: dict[str, Any]) -> ClassSource:
    builtin = NNI_TUNERS[name]
    return ClassSource(
        section="tuner",
        class_name=builtin.class_name,
        module=builtin.module,
        class_args=class_args,
        name_key=name_key,
        pip=builtin.pip,
    )
