"""Stands in for NNI's mnist example in config tests: only validated and rendered, never run."""

import nni

params = nni.get_next_parameter()
nni.report_final_result(params["momentum"])
