"""`nnifc report`: one HTML file with an experiment's pages, plots and table, for a ticket or
a mail. The data is what the server's API would answer, embedded; the page's scripts read it
instead of asking a server, so the file opens anywhere, offline, from file://.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from nnifc.web import charts, documents, importance, page
from nnifc.web.reader import ExperimentReader

REPORT_CURVES = 200  # learning curves in the file: the best ones and those still running


def report_data(exp_id: str) -> dict[str, Any]:
    reader = ExperimentReader(exp_id)
    try:
        snapshot = reader.snapshot()
    finally:
        reader.close()
    prefix = f"e/{exp_id}/"
    data: dict[str, Any] = {
        "report": {"experiment": exp_id},
        "experiments": {"experiments": [documents.experiment_summary(snapshot)], "unreadable": []},
        prefix + "overview": documents.overview(snapshot),
        prefix + "trials": documents.trials_table(snapshot),
        prefix + "curves": charts.curves(snapshot, REPORT_CURVES),
        prefix + "history": charts.history(snapshot),
        prefix + "parallel": charts.parallel(snapshot),
        prefix + "durations": charts.durations(snapshot),
        prefix + "importance": importance.importance(snapshot),
    }
    for trial in snapshot.trials:
        data[f"{prefix}t/{trial.id}"] = documents.trial_detail(snapshot, trial.id)
    return data


def write_report(exp_id: str, path: Path) -> int:
    """Write the report to `path` (whole or not at all); returns its size in bytes."""
    html = page.embedded(report_data(exp_id)).encode("utf-8")
    target = path.resolve()
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(html)
        os.chmod(temporary, 0o644 & ~_umask())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return len(html)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
