"""Where trials keep the checkpoints later trials load: PBT's generations and ASHA's promotions.

Why one place: both name a directory per trial under one root that every trial can reach
(`all_checkpoint_dir`, else `<shared dir>/checkpoint`, the experiment's share on
FrameworkController), pass it as NNI's PBTTuner does (`load_checkpoint_dir`,
`save_checkpoint_dir`), and leave creating it to the task wrapper, since on a cluster the
directory exists only in the pods.
"""

from __future__ import annotations

import posixpath

from nnifc.stages import LOAD_KEY, SAVE_KEY

__all__ = ["LOAD_KEY", "SAVE_KEY", "checked_root", "root"]


def root(configured: str | None, shared_dir: str | None) -> str | None:
    """The checkpoint root: the configured one, else `checkpoint` in the trials' shared directory;
    None when neither exists."""
    if configured is not None:
        return posixpath.normpath(configured)
    if shared_dir is None:
        return None
    return posixpath.join(posixpath.normpath(shared_dir), "checkpoint")


def checked_root(path: str | None) -> str | None:
    """A classArgs validator: an absolute path, as every trial must read and write it."""
    if path is not None and (not path.startswith("/") or "\0" in path):
        raise ValueError("must be an absolute path that every trial can read and write")
    return path
