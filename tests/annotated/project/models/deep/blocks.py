# Building blocks with log-normal parameters.
def block_params() -> dict[str, float]:
    """The log-normal distributions, inside a function below its docstring."""
    """@nni.variable(nni.lognormal(0, 1), name=scale)"""
    scale = 1.0
    """@nni.variable(nni.qlognormal(0, 1, 1), name=steps)"""
    steps = 1.0
    return {"scale": scale, "steps": steps}
