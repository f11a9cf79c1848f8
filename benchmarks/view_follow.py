"""Does a browser following `nnifc view` slow a running experiment? (issue 20)

Runs the same local experiment twice, alternately, several times: short real trials (python,
`import nni`, a final result after 0.2 s), 240 trials, 4 at a time, Random tuner. Once alone,
once while `nnifc view` serves it and headless chromium follows its live trials page. For each
trial after the first wave, the proposal latency is the time from the end the loop recorded
last before the trial was created to its creation: what the loop spent noticing the end and
proposing the next trial. Prints median and 90th percentile per condition; exits 1 when
following raises the median by more than 20% and more than 5 ms.

    .venv/bin/python benchmarks/view_follow.py [--rounds N]
"""

from __future__ import annotations

import argparse
import bisect
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

from nnifc.store import Store, experiment_ids

TRIALS, CONCURRENCY = 240, 4
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
TRIAL = "import time, nni\np = nni.get_next_parameter()\ntime.sleep(0.2)\nnni.report_final_result(p['x'])\n"


def write(folder: Path) -> Path:
    (folder / "code").mkdir()
    (folder / "code" / "trial.py").write_text(TRIAL)
    (folder / "space.json").write_text('{"x": {"_type": "uniform", "_value": [0, 1]}}')
    config = folder / "exp.yml"
    config.write_text(
        f"experimentName: follow\ntrialConcurrency: {CONCURRENCY}\nmaxTrialNum: {TRIALS}\n"
        "trainingServicePlatform: local\nsearchSpacePath: space.json\n"
        "tuner: {builtinTunerName: Random, classArgs: {optimize_mode: maximize}}\n"
        f"trial: {{command: {sys.executable} trial.py, codeDir: code}}\n"
    )
    return config


def latencies(exp_id: str) -> list[float]:
    store = Store.open(exp_id)
    trials = store.trials()
    store.close()
    ends = sorted(t.ended for t in trials if t.ended is not None)
    found = []
    for trial in trials[CONCURRENCY:]:
        i = bisect.bisect_right(ends, trial.created)
        if i:
            found.append(trial.created - ends[i - 1])
    return found


def ended(exp_id: str) -> bool:
    store = Store.open(exp_id)
    try:
        return store.experiment().ended is not None
    finally:
        store.close()


def follow(url: str, stop: threading.Event) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        while not stop.is_set():
            page.wait_for_timeout(500)  # the page polls by itself; this only keeps it open
        browser.close()


def run(folder: Path, *, followed: bool) -> list[float]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    before = set(experiment_ids())
    loop = subprocess.Popen(
        [sys.executable, "-m", "nnifc", "create", "--config", str(write(folder)), "--detach"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    loop.communicate()
    (exp_id,) = set(experiment_ids()) - before
    stop = threading.Event()
    server = browser = None
    if followed:
        server = subprocess.Popen(
            [sys.executable, "-m", "nnifc", "view", exp_id, "--port", "0"],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None
        url = re.search(r"(http://\S+)", server.stdout.readline()).group(1)  # type: ignore[union-attr]
        browser = threading.Thread(target=follow, args=(url, stop))
        browser.start()
    try:
        while not ended(exp_id):
            stop.wait(0.5)
    finally:
        stop.set()
        if browser is not None:
            browser.join()
        if server is not None:
            server.terminate()
            server.wait()
    return latencies(exp_id)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    rounds = parser.parse_args().rounds
    home = Path(tempfile.mkdtemp(prefix="nnifc-bench-follow-"))
    os.environ["NNIFC_HOME"] = str(home / "home")
    found: dict[bool, list[float]] = {False: [], True: []}
    try:
        for i in range(rounds):
            for followed in (False, True):
                folder = home / f"run{i}-{int(followed)}"
                folder.mkdir()
                found[followed] += run(folder, followed=followed)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print(f"proposal latency: end recorded -> next trial created, {TRIALS} trials x {rounds} runs")
    print(f"{'condition':<34} {'trials':>6} {'median ms':>10} {'p90 ms':>8}")
    medians = {}
    for followed, values in found.items():
        name = "browser following nnifc view" if followed else "alone"
        medians[followed] = statistics.median(values)
        p90 = statistics.quantiles(values, n=10)[-1]
        print(f"{name:<34} {len(values):>6} {medians[followed] * 1000:>10.1f} {p90 * 1000:>8.1f}")
    slower = medians[True] - medians[False]
    ok = slower <= max(0.005, 0.2 * medians[False])
    print(f"following adds {slower * 1000:+.1f} ms to the median: {'ok' if ok else 'MISS'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
