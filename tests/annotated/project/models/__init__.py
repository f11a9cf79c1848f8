"""Model pieces; the package's own annotations are keyed `models.__init__/...`, as NNI keyed them."""

"""@nni.variable(nni.choice(0, -1, 1), name=sign)"""
sign = 1
