"""Quick-start trial: a one-hidden-layer network in numpy on scikit-learn's bundled digits.

Unmodified NNI trial code: it gets its parameters from `nni.get_next_parameter()` and reports an
accuracy per epoch and a final accuracy. Nothing is downloaded; the digits ship with scikit-learn.
Under Hyperband, BOHB or ASHA it trains up to `TRIAL_BUDGET` epochs; under PBTTuner it trains
`epochs` more. It starts from the weights in `load_checkpoint_dir` when there are some and saves
its own, with the epochs done, in `save_checkpoint_dir`, as NNI's examples do
(configs/hyperband.yml, bohb.yml, pbt.yml). So an ASHA promotion continues the promoted trial's
training: it trains only the epochs from the promoted trial's budget to its own.
"""

from __future__ import annotations

import os
from typing import Any

import nni
import numpy as np
from sklearn.datasets import load_digits


def one_hot(labels: Any, classes: int) -> Any:
    return np.eye(classes)[labels]


def main() -> None:
    params = {"hidden_size": 32, "learning_rate": 0.1, "batch_size": 32, "epochs": 10, "l2": 1e-4}
    params.update(nni.get_next_parameter() or {})
    rng = np.random.default_rng(0)
    digits = load_digits()
    x, y = digits.data / 16.0, digits.target
    order = rng.permutation(len(x))
    split = int(0.8 * len(x))
    train, test = order[:split], order[split:]
    hidden, lr, l2 = int(params["hidden_size"]), float(params["learning_rate"]), float(params["l2"])
    batch = int(params["batch_size"])
    w1 = rng.normal(0, 1 / np.sqrt(64), (64, hidden))
    w2 = rng.normal(0, 1 / np.sqrt(hidden), (hidden, 10))
    w1, w2, done = load(params, w1, w2)
    accuracy = evaluate(x[test], y[test], w1, w2)
    first, last = (done, int(params["TRIAL_BUDGET"])) if "TRIAL_BUDGET" in params else (0, 0)
    for epoch in range(first, last if last else int(params["epochs"])):
        for start in range(0, split, batch):
            idx = train[start : start + batch]
            h = np.maximum(x[idx] @ w1, 0)
            logits = h @ w2
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            grad = (p - one_hot(y[idx], 10)) / len(idx)
            grad_h = (grad @ w2.T) * (h > 0)
            w2 -= lr * (h.T @ grad + l2 * w2)
            w1 -= lr * (x[idx].T @ grad_h + l2 * w1)
        accuracy = evaluate(x[test], y[test], w1, w2)
        print(f"epoch {epoch}: test accuracy {accuracy:.4f}")
        nni.report_intermediate_result(accuracy)
    nni.report_final_result(accuracy)
    if params.get("save_checkpoint_dir"):
        epochs = last if last else int(params["epochs"])
        path = os.path.join(str(params["save_checkpoint_dir"]), "weights.npz")
        np.savez(path, w1=w1, w2=w2, epochs=epochs)


def evaluate(x: Any, y: Any, w1: Any, w2: Any) -> float:
    predictions = (np.maximum(x @ w1, 0) @ w2).argmax(axis=1)
    return float((predictions == y).mean())


def load(params: dict[str, Any], w1: Any, w2: Any) -> tuple[Any, Any, int]:
    """The weights of the checkpoint this trial continues and its epochs, when they fit."""
    path = os.path.join(str(params.get("load_checkpoint_dir") or ""), "weights.npz")
    if not os.path.isfile(path):
        return w1, w2, 0
    saved = np.load(path)
    if saved["w1"].shape != w1.shape:
        print(f"checkpoint {path} is for another hidden_size: starting afresh")
        return w1, w2, 0
    print(f"continuing from {path}")
    return saved["w1"], saved["w2"], int(saved["epochs"]) if "epochs" in saved else 0


if __name__ == "__main__":
    main()
