# The activation is chosen per call; `kind` shows the kinds of literal a choice may hold.
import math
from typing import Any

CALLED: list[str] = []


def relu(x: float) -> float:
    CALLED.append("relu")
    return max(x, 0.0)


def gelu(x: float) -> float:
    CALLED.append("gelu")
    return x * 0.5 * (1 + math.erf(x / math.sqrt(2)))


def apply(x: float) -> float:
    """@nni.function_choice(relu(x), gelu(x), math.tanh(x), name=activation)"""
    y = relu(x) + 0.0
    return y


def used() -> dict[str, Any]:
    """@nni.variable(nni.choice("relu", "gelu", None, True, 2.5), name=kind)"""
    kind = "relu"
    return {"activation": CALLED[-1] if CALLED else "math.tanh", "kind": kind}
