"""k8sim: a Kubernetes API server double plus a FrameworkController simulator, for tests.

Why: the launcher runs trials as FrameworkController `Framework` objects, and no real cluster
can run here. k8sim serves the real REST protocol to the official `kubernetes` client and runs
each task's container command as a local process, so launcher tests exercise the same calls,
states and failure modes they would meet on a cluster. See `fixture.kube_cluster`.
"""
