"""The plain monitor (output that is not a terminal): one line per trial status change, each
printed once, however the trials end, while it reads only the trials that can still change."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from nnifc.monitor import Monitor
from nnifc.records import TrialSpec, TrialStatus
from tests.test_store_batch import new_store


def _monitor(tmp_path: Path) -> tuple[Monitor, io.StringIO]:
    store, _ = new_store(tmp_path)
    text = io.StringIO()
    return Monitor(store, Console(file=text, force_terminal=False, width=200)), text


def _printed(text: io.StringIO, since: int) -> list[str]:
    return [" ".join(line.split()[:4]) for line in text.getvalue().splitlines()[since:]]


def test_every_change_is_printed_once_also_when_trials_end_out_of_order(tmp_path: Path) -> None:
    monitor, text = _monitor(tmp_path)
    store = monitor.store
    for sequence in range(4):
        store.add_trial(TrialSpec("exp1", f"t{sequence}", sequence, sequence, {"lr": "[red]"}))
    monitor.update(force=True)
    assert _printed(text, 0) == [f"trial t{i} #{i} WAITING" for i in range(4)]
    store.set_status("t0", TrialStatus.RUNNING)
    store.set_status("t2", TrialStatus.SUCCEEDED)
    store.set_status("t3", TrialStatus.FAILED, message="boom")
    monitor.update(force=True)
    assert _printed(text, 4) == [
        "trial t0 #0 RUNNING",
        "trial t2 #2 SUCCEEDED",
        "trial t3 #3 FAILED",
    ]
    assert monitor.first_open == 0  # t0 and t1 may still change
    store.set_status("t1", TrialStatus.SUCCEEDED)
    store.set_status("t0", TrialStatus.SUCCEEDED)
    store.add_trial(TrialSpec("exp1", "t4", 4, 4, {"lr": 1}))
    monitor.update(force=True)
    assert _printed(text, 7) == [
        "trial t0 #0 SUCCEEDED",
        "trial t1 #1 SUCCEEDED",
        "trial t4 #4 WAITING",
    ]
    assert monitor.first_open == 4  # t0..t3 are final: never read again
    monitor.update(force=True)
    assert len(text.getvalue().splitlines()) == 10  # nothing changed, nothing printed
    assert '"[red]"' in text.getvalue()  # a parameter's text is printed as written, not as markup
