#!/usr/bin/env python3
"""Trains nothing: shows where annotations may stand, and prints what each of them gave."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import utils  # type: ignore[import-not-found]
from models import layers, sign  # type: ignore[import-not-found]
from models.deep import blocks  # type: ignore[import-not-found]

USED: dict[str, Any] = {}

"""@nni.variable(nni.choice("sgd", "adam"), name=optimizer)"""
optimizer = "sgd"


class Trainer:
    """@nni.variable(nni.randint(1, 10), name=epochs)"""

    epochs = 3

    def __init__(self) -> None:
        """@nni.variable(nni.uniform(-1, 1.5), name=self.shift)"""
        self.shift = 0.0

    def run(self) -> float:
        def scaled(x: float) -> float:
            """@nni.variable(nni.quniform(0, 1, 0.25), name=factor)"""
            factor = 0.5
            USED["factor"] = factor
            return x * factor

        total = 0.0
        for epoch in range(self.epochs):
            if epoch % 2 == 0:
                """@nni.variable(nni.qloguniform(1, 100, 1), name=width)"""
                width = 10.0
            else:
                width = 1.0
            try:
                """@nni.variable(nni.normal(0, 1), name=noise)"""
                noise = 0.0
            finally:
                USED["noise"] = noise
            with contextlib.suppress(ZeroDivisionError):
                """@nni.variable(nni.qnormal(0, 1, 0.5), name=jitter)"""
                jitter = 0.0
                USED["jitter"] = jitter
            total += scaled(width + noise + jitter + self.shift) + layers.apply(epoch)
            """@nni.report_intermediate_result(total)"""
            USED["width"] = width
        return total


if __name__ == "__main__":
    """@nni.get_next_parameter()"""
    trainer = Trainer()
    result = trainer.run()
    USED.update(optimizer=optimizer, epochs=trainer.epochs, shift=trainer.shift, sign=sign)
    USED.update(layers.used(), **blocks.block_params(), result=result, clean=utils.clean("ok"))
    print("USED " + json.dumps(USED), flush=True)
    """@nni.report_final_result(
        {"default": result, "activation": layers.used()["activation"]}
    )"""
