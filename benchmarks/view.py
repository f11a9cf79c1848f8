"""Time `nnifc view` on an experiment with 10,000 trials x 20 intermediate results.

Builds the store (through nnifc's Store, as a loop would), starts the real `nnifc view`, and
measures (1) each API call's server time, median of 5, target < 200 ms, and (2) in Debian's
chromium, how long the trials page and each plot take to render after the page is asked for,
target < 2 s (plotly.js already loaded once, as it is after the first plot). Prints the table;
exits 1 on a miss.

    .venv/bin/python benchmarks/view.py
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

from nnifc import config, experiments
from nnifc.records import MetricReported, TrialSpec, TrialStatus

TRIALS, STEPS = 10_000, 20
API_LIMIT, RENDER_LIMIT = 0.2, 2.0
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
PAGES = {
    "trials": "#panel",
    "curves": "#chart-curves",
    "history": "#chart-history",
    "parallel": "#chart-parallel",
    "duration": "#chart-timeline",
    "importance": "#chart-importance",
}


def build(folder: Path) -> str:
    space = {
        "lr": {"_type": "loguniform", "_value": [1e-5, 1]},
        "layers": {"_type": "randint", "_value": [1, 8]},
        "dropout": {"_type": "uniform", "_value": [0, 0.5]},
        "optimizer": {"_type": "choice", "_value": ["adam", "sgd", "rmsprop"]},
    }
    (folder / "space.json").write_text(json.dumps(space))
    (folder / "code").mkdir()
    (folder / "exp.yml").write_text(
        "experimentName: bench-view\ntrialConcurrency: 8\nmaxTrialNum: 10000\n"
        "trainingServicePlatform: local\nsearchSpacePath: space.json\n"
        "tuner: {builtinTunerName: Random, classArgs: {optimize_mode: maximize}}\n"
        "trial: {command: python3 t.py, codeDir: code}\n"
    )
    store = experiments.register(config.load(folder / "exp.yml"))
    exp_id = store.experiment().id
    optimizers = ["adam", "sgd", "rmsprop"]
    for start in range(0, TRIALS, 500):
        with store.batch():
            for n in range(start, start + 500):
                lr = 10 ** -(n % 50 / 10)
                params = {"lr": lr, "layers": n % 7 + 1,
                          "dropout": (n * 7 % 50) / 100, "optimizer": optimizers[n % 3]}  # fmt: skip
                trial_id = f"t{n:05d}"
                store.add_trial(TrialSpec(exp_id, trial_id, n, n, params))
                store.set_status(trial_id, TrialStatus.RUNNING)
                level = 1 - abs(math.log10(lr) + 2.5) / 3
                for step in range(STEPS):
                    value = level * (1 - math.exp(-(step + 1) / 5))
                    store.add_metric(
                        MetricReported(trial_id, "local_0", step, False, value, str(value))
                    )
                store.add_metric(
                    MetricReported(trial_id, "local_0", STEPS, True, level, str(level))
                )
                store.set_status(trial_id, TrialStatus.SUCCEEDED, exit_code=0)
    store.close()
    return exp_id


def main() -> int:
    folder = Path(tempfile.mkdtemp(prefix="nnifc-bench-view-"))
    os.environ["NNIFC_HOME"] = str(folder / "home")
    started = time.monotonic()
    exp_id = build(folder)
    print(f"store of {TRIALS} trials x {STEPS} results built in {time.monotonic() - started:.1f}s")
    server = subprocess.Popen([sys.executable, "-m", "nnifc", "view", "--port", "0"],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert server.stdout is not None
    url = re.search(r"(http://\S+?/)", server.stdout.readline()).group(1)  # type: ignore[union-attr]
    rows: list[tuple[str, float, float]] = []
    try:
        api = f"{url}api/e/{exp_id}/"
        for name in (
            "overview",
            "trials",
            "curves",
            "history",
            "parallel",
            "durations",
            "importance",
        ):
            times = []
            for _ in range(5):
                t = time.monotonic()
                with urllib.request.urlopen(api + name, timeout=60) as response:
                    response.read()
                times.append(time.monotonic() - t)
            rows.append(
                (
                    f"API {name} (median of 5; first {times[0] * 1000:.0f} ms)",
                    statistics.median(times),
                    API_LIMIT,
                )
            )
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}#/e/{exp_id}/history")  # loads plotly.js once
            page.wait_for_selector("#chart-history[data-ready]", timeout=60_000)
            for tab, ready in PAGES.items():
                page.goto(f"{url}#/")
                page.wait_for_selector("main[data-ready=experiments]")
                t = time.monotonic()
                page.goto(f"{url}#/e/{exp_id}/{tab}")
                page.wait_for_selector(f"{ready}[data-ready]", timeout=60_000)
                rows.append((f"browser {tab}", time.monotonic() - t, RENDER_LIMIT))
            browser.close()
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(folder, ignore_errors=True)
    misses = 0
    print(f"\n{'measure':<48} {'seconds':>8} {'target':>7}  result")
    for name, seconds, limit in rows:
        ok = seconds < limit
        misses += not ok
        print(f"{name:<48} {seconds:8.3f} {limit:7.1f}  {'ok' if ok else 'MISS'}")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
