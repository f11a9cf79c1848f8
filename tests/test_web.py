"""`nnifc view` over a real socket and `nnifc report`, on experiments made by running nnifc.

The server is the real command in a child process; its JSON is checked against the store.
Hostile text (markup, quotes, a token in the command) is in the experiment on purpose.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nnifc.records import MetricReported
from nnifc.store import Store
from nnifc.web.importance import permutation_importance
from tests.conftest import VENV_BIN, created_id

HOSTILE_NAME = '</script><script>window.pwned=1</script> it\'s "quoted"'
HOSTILE_VALUE = "<img src=x onerror=window.pwned=1>"
TOKEN = "hf_s3cr3tT0ken"
TRIAL = f"""\
    import sys, time
    from nnifc import trial as nni

    params = nni.get_next_parameter()
    score = params["x"] * 10 + params["k"]
    print("hello <b>from</b> trial", nni.get_trial_id(), flush=True)
    print({HOSTILE_NAME!r}, flush=True)
    if params["k"] == 1:
        print({HOSTILE_NAME!r}, file=sys.stderr)
        sys.exit(2)
    for step in range(4):
        time.sleep(float(params.get("pause", 0)))
        nni.report_intermediate_result(score + step)
    nni.report_final_result(score)
"""
SPACE = {
    "x": {"_type": "uniform", "_value": [0, 1]},
    "k": {"_type": "randint", "_value": [1, 5]},
    "opt": {"_type": "choice", "_value": ["adam", HOSTILE_VALUE]},
}


def environment(home: Path) -> dict[str, str]:
    path = VENV_BIN + os.pathsep + os.environ.get("PATH", "")
    return {**os.environ, "NNIFC_HOME": str(home), "PATH": path}


def nnifc(home: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nnifc", *args],
        capture_output=True,
        text=True,
        env=environment(home),
        timeout=timeout,
    )


def write_experiment(
    folder: Path, *, trials: int, concurrency: int, space: dict[str, Any] | None = None
) -> Path:
    code = folder / "code"
    code.mkdir(parents=True, exist_ok=True)
    (code / "trial.py").write_text(textwrap.dedent(TRIAL))
    (folder / "space.json").write_text(json.dumps(space or SPACE))
    config = folder / "exp.yml"
    config.write_text(
        textwrap.dedent(f"""\
        experimentName: {json.dumps(HOSTILE_NAME)}
        trialConcurrency: {concurrency}
        maxTrialNum: {trials}
        trainingServicePlatform: local
        searchSpacePath: space.json
        tuner:
          builtinTunerName: Random
          classArgs: {{optimize_mode: maximize, seed: 3}}
        trial:
          command: "HF_TOKEN={TOKEN} python3 trial.py --api-key {TOKEN}"
          codeDir: code
        """)
    )
    return config


class Finished:
    """A finished experiment made by `nnifc create`, and what create printed."""

    def __init__(self, home: Path, exp_id: str, output: str) -> None:
        self.home, self.id, self.output = home, exp_id, output

    def store(self) -> Store:
        return Store(self.home / "experiments" / self.id / "nnifc.db")


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Finished:
    folder = tmp_path_factory.mktemp("web")
    home = folder / "home"
    result = nnifc(
        home, "create", "--config", str(write_experiment(folder, trials=10, concurrency=5))
    )
    assert result.returncode == 0, result.stderr
    return Finished(home, created_id(result), result.stdout)


class Server:
    """`nnifc view --port 0` in a child process; `url` is where it listens."""

    def __init__(self, home: Path, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "nnifc", "view", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment(home),
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        found = re.search(r"(http://\S+?/)", line)
        assert found, (
            f"no URL in {line!r}; stderr: {self.process.stderr.read() if self.process.stderr else ''}"
        )
        self.url = found.group(1)

    def get(self, path: str) -> Any:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as e:
            return {"status": e.code, **json.loads(e.read())}

    def stop(self) -> str:
        self.process.send_signal(2)  # Ctrl-C
        _, err = self.process.communicate(timeout=15)
        return err


@pytest.fixture(scope="module")
def server(finished: Finished) -> Iterator[Server]:
    running = Server(finished.home)
    yield running
    assert "Traceback" not in running.stop()


def test_create_prints_the_view_command(finished: Finished) -> None:
    assert f"nnifc view {finished.id}" in finished.output


def test_documents_match_the_store(finished: Finished, server: Server) -> None:
    store = finished.store()
    row, trials = store.experiment(), store.trials()
    listed = server.get("api/experiments")["experiments"]
    assert [e["id"] for e in listed] == [finished.id]
    assert listed[0]["name"] == HOSTILE_NAME and listed[0]["status"] == "DONE"
    api = f"api/e/{finished.id}/"
    overview = server.get(api + "overview")
    scored = [t for t in trials if t.status.value == "SUCCEEDED"]
    top = max(scored, key=lambda t: t.final or 0.0)
    assert overview["progress"]["best"]["id"] == top.id
    assert overview["progress"]["best"]["value"] == top.final
    assert overview["progress"]["finished"] == len(trials) == row.max_trials
    table = server.get(api + "trials")
    by_id = {r["id"]: r for r in table["rows"]}
    assert set(by_id) == {t.id for t in trials}
    for t in trials:
        assert by_id[t.id]["status"] == t.status.value
        assert by_id[t.id]["final"] == t.final
        assert by_id[t.id]["params"] == t.params
    curves = {s["id"]: s for s in server.get(api + "curves")["series"]}
    for t in scored:
        assert curves[t.id]["y"] == list(t.intermediate)
    history = server.get(api + "history")
    assert history["y"] == [t.final for t in scored]
    assert history["best"][-1] == top.final
    parallel = server.get(api + "parallel")
    assert sorted(parallel["metric"]) == sorted(t.final or 0.0 for t in scored)
    durations = server.get(api + "durations")
    assert sorted(durations["ids"]) == sorted(t.id for t in trials)
    importance = server.get(api + "importance")
    assert {p["name"] for p in importance["params"]} == {"x", "k", "opt"}
    assert "permutation importance" in importance["method"]


def test_trial_log_is_what_nnifc_logs_prints(finished: Finished, server: Server) -> None:
    trial = finished.store().trials()[0]
    logs = nnifc(finished.home, "logs", trial.id)
    assert logs.returncode == 0, logs.stderr
    document = server.get(f"api/e/{finished.id}/t/{trial.id}/log")
    assert document["finished"] is True
    assert "".join(task["text"] for task in document["tasks"]) == logs.stdout
    ends = {task["task"]: task["offset"] for task in document["tasks"]}
    query = urllib.parse.urlencode({"from": json.dumps(ends)})
    more = server.get(f"api/e/{finished.id}/t/{trial.id}/log?{query}")
    assert all(task["text"] == "" for task in more["tasks"])
    detail = server.get(f"api/e/{finished.id}/t/{trial.id}")
    assert detail["intermediate"] == list(trial.intermediate)
    assert detail["rawParams"] == trial.params


def test_config_is_shown_without_tokens(finished: Finished, server: Server) -> None:
    config = dict(server.get(f"api/e/{finished.id}/overview")["config"])
    assert config["experimentName"] == HOSTILE_NAME
    assert TOKEN not in json.dumps(config)
    assert config["trial.command"] == "HF_TOKEN=(hidden) python3 trial.py --api-key (hidden)"


def test_unknown_things_are_json_errors_and_one_line_commands(
    finished: Finished, server: Server
) -> None:
    assert server.get("api/e/nope/overview")["status"] == 404
    assert server.get(f"api/e/{finished.id}/t/nope")["status"] == 404
    for command in (("view", "nope"), ("report", "nope")):
        result = nnifc(finished.home, *command)
        assert result.returncode == 1
        assert result.stderr.startswith("Error: no experiment 'nope'"), result.stderr
        assert "Traceback" not in result.stderr


def test_a_host_other_than_loopback_warns(finished: Finished) -> None:
    exposed = Server(finished.home, "--host", "0.0.0.0")
    try:
        assert exposed.get("api/experiments")["experiments"]
    finally:
        err = exposed.stop()
    assert "no authentication" in err


def test_reading_never_blocks_the_writer(finished: Finished, server: Server) -> None:
    """Browsers poll every page hard while a launcher writes: no write waits on the view."""
    store = finished.store()
    trial = store.trials()[0]
    stop = threading.Event()

    def poll(path: str) -> None:
        while not stop.is_set():
            server.get(f"api/e/{finished.id}/{path}")

    pollers = [
        threading.Thread(target=poll, args=(path,))
        for path in ("trials", "overview", "curves", "version", "history")
    ]
    for poller in pollers:
        poller.start()
    slowest = 0.0
    try:
        before = server.get(f"api/e/{finished.id}/version")["version"]
        for i in range(150):
            started = time.monotonic()
            store.add_metric(MetricReported(trial.id, "extra", 10_000 + i, False, float(i), str(i)))
            store.set_message(f"write {i}")
            slowest = max(slowest, time.monotonic() - started)
    finally:
        stop.set()
        for poller in pollers:
            poller.join()
    # a write the view blocked would wait for the lock (up to the store's 30 s busy timeout);
    # the bound leaves room for a loaded machine, where these threads share one GIL
    assert slowest < 1.0, f"a write waited {slowest:.3f}s"
    assert server.get(f"api/e/{finished.id}/version")["version"] > before
    assert server.get(f"api/e/{finished.id}/overview")["message"] == "write 149"
    store.set_message("")


def test_report_is_one_file_with_everything_in_it(finished: Finished, tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    result = nnifc(finished.home, "report", finished.id[:4], "-o", str(path))
    assert result.returncode == 0, result.stderr
    html = path.read_text()
    assert html.count("<script") >= 7 and "Plotly" in html
    assert not re.search(r"<script[^>]*\bsrc=", html)  # every script is in the file
    assert not re.search(r"<link[^>]*\bhref=[\"']?(https?:)?//", html)
    assert "window.pwned=1</script>" not in html  # the name cannot end a script element
    data = json.loads(re.search(r'id="nnifc-data">(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr]
    assert data[f"e/{finished.id}/overview"]["name"] == HOSTILE_NAME
    assert len(data[f"e/{finished.id}/trials"]["rows"]) == 10


def test_importance_finds_the_parameter_that_matters() -> None:
    rng = np.random.default_rng(5)
    x = rng.random((300, 3))
    y = 8 * x[:, 1] + rng.normal(0, 0.05, 300)
    shares = permutation_importance(x, y)
    assert shares.argmax() == 1 and shares[1] > 0.9
    assert abs(shares.sum() - 1) < 1e-9
