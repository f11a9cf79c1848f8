"""The web view in a real browser: Debian's chromium driven by Playwright (no browser download).

Pages of real experiments (local platform, real trials) render, their plotted values are the
store's, the table sorts and filters, a running experiment updates within 2 s, a running
trial's log is followed, hostile text stays text, and the report opens offline from file://.
Screenshots go to the test's output folder.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright import sync_api

from nnifc.store import Store
from tests.test_web import (
    HOSTILE_NAME,
    HOSTILE_VALUE,
    SPACE,
    Finished,
    Server,
    environment,
    finished,
    nnifc,
    server,
    write_experiment,
)

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
__all__ = ["finished", "server"]  # fixtures shared with test_web


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        assert CHROMIUM.exists(), "the browser tests need chromium: sudo apt-get install chromium"
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda e: errors.append(str(e)))
    yield opened
    context.close()
    assert not errors, errors


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


def open_tab(page: Any, server: Server, exp_id: str, tab: str, ready: str) -> None:
    page.goto(f"{server.url}#/e/{exp_id}/{tab}")
    page.wait_for_selector(f"{ready}[data-ready]", timeout=20_000)


def test_every_page_renders_the_store(
    page: Any, server: Server, finished: Finished, shots: Path
) -> None:
    store = finished.store()
    trials = store.trials()
    scored = [t for t in trials if t.status.value == "SUCCEEDED"]
    page.goto(server.url)
    page.wait_for_selector("main[data-ready=experiments]")
    assert page.inner_text("#experiments tbody tr td:nth-child(2)") == HOSTILE_NAME
    page.screenshot(path=shots / "experiments.png", full_page=True)
    open_tab(page, server, finished.id, "trials", "#panel")
    assert page.inner_text("#exp-name") == HOSTILE_NAME
    assert page.locator("#trials-table tbody tr").count() == len(trials)
    page.screenshot(path=shots / "trials.png", full_page=True)
    open_tab(page, server, finished.id, "history", "#chart-history")
    plotted = page.evaluate("document.getElementById('chart-history').data[0].y")
    assert plotted == [t.final for t in scored]
    page.screenshot(path=shots / "history.png", full_page=True)
    open_tab(page, server, finished.id, "curves", "#chart-curves")
    curves = page.evaluate(
        "Object.fromEntries(document.getElementById('chart-curves').data.map(t => [t.meta, t.y]))"
    )
    assert curves == {t.id: list(t.intermediate) for t in trials if t.intermediate}
    page.check("#curves-log")
    page.wait_for_function("document.getElementById('chart-curves').layout.yaxis.type === 'log'")
    page.fill("#curves-highlight", scored[0].id)
    page.wait_for_function(
        f"document.getElementById('chart-curves').data.find(t => t.meta === '{scored[0].id}').line.width === 4"
    )
    page.screenshot(path=shots / "curves.png", full_page=True)
    for tab, chart in (
        ("parallel", "#chart-parallel"),
        ("duration", "#chart-timeline"),
        ("importance", "#chart-importance"),
    ):
        open_tab(page, server, finished.id, tab, chart)
        assert page.evaluate(f"document.querySelector('{chart}').data.length") > 0
        page.screenshot(path=shots / f"{tab}.png", full_page=True)
    trial = scored[0]
    page.goto(f"{server.url}#/e/{finished.id}/t/{trial.id}")
    page.wait_for_selector("#trial[data-ready]")
    page.wait_for_function("document.getElementById('log').textContent.includes('hello')")
    assert f"hello <b>from</b> trial {trial.id}" in page.inner_text("#log")
    page.screenshot(path=shots / "trial.png", full_page=True)
    print(f"screenshots: {shots}")


def test_the_table_sorts_filters_searches_and_keeps_the_best(
    page: Any, server: Server, finished: Finished
) -> None:
    trials = finished.store().trials()
    scored = sorted(
        (t for t in trials if t.status.value == "SUCCEEDED"), key=lambda t: -(t.final or 0)
    )
    open_tab(page, server, finished.id, "trials", "#panel")
    rows = page.locator("#trials-table tbody tr")

    def ids() -> list[str]:
        return [rows.nth(i).get_attribute("data-id") for i in range(rows.count())]

    assert "null" not in page.inner_text(".pager")  # nothing stray where no range is set
    page.click("th[data-key=final]")
    page.click("th[data-key=final]")  # descending
    assert ids()[: len(scored)] == [t.id for t in scored]
    page.fill("#top-n", "3")
    assert ids() == [t.id for t in scored[:3]]
    page.fill("#top-n", "")
    page.uncheck("input[name=status][value=SUCCEEDED]")
    assert len(ids()) == len(trials) - len(scored)
    page.check("input[name=status][value=SUCCEEDED]")
    page.fill("#trial-search", scored[1].id)
    assert ids() == [scored[1].id]
    page.fill("#trial-search", "")
    threshold = scored[len(scored) // 2].final
    page.select_option("#range-key", "final")
    page.fill("#range-min", str(threshold))
    page.click("#range-add")
    assert sorted(ids()) == sorted(t.id for t in scored if (t.final or 0) >= (threshold or 0))
    page.locator("#trials-table tbody tr input.pick").nth(0).check()
    page.locator("#trials-table tbody tr input.pick").nth(1).check()
    page.click("#compare")
    assert page.locator("#comparison table thead th").count() == 3


def test_hostile_text_is_shown_as_text_and_runs_nothing(
    page: Any, server: Server, finished: Finished
) -> None:
    store = finished.store()
    failed = next(t for t in store.trials() if t.status.value == "FAILED")
    hostile = next(t for t in store.trials() if t.params["opt"] == HOSTILE_VALUE)
    open_tab(page, server, finished.id, "trials", "#panel")
    page.fill("#trial-search", hostile.id)
    assert HOSTILE_VALUE in page.inner_text("#trials-table tbody")
    open_tab(page, server, finished.id, "parallel", "#chart-parallel")
    page.goto(f"{server.url}#/e/{failed.id}")
    page.goto(f"{server.url}#/e/{finished.id}/t/{failed.id}")
    page.wait_for_selector("#trial[data-ready]")
    page.wait_for_function("document.getElementById('log').textContent.includes('pwned')")
    assert HOSTILE_NAME in page.inner_text("#trial")  # the message: the trial's last output
    assert HOSTILE_NAME in page.inner_text("#log")
    assert page.evaluate("window.pwned") is None
    assert page.locator("img").count() == 0


def test_a_running_experiment_updates_within_2s_and_its_log_is_followed(
    page: Any, tmp_path: Path, shots: Path
) -> None:
    home = tmp_path / "home"
    space = {
        **SPACE,
        "k": {"_type": "choice", "_value": [3]},
        "pause": {"_type": "choice", "_value": [0.5]},
    }
    config = write_experiment(tmp_path, trials=3, concurrency=1, space=space)
    result = nnifc(home, "create", "--config", str(config), "--detach")
    assert result.returncode == 0, result.stderr
    exp_id = result.stdout.split()[1]
    view = Server(home)
    try:
        store = Store(home / "experiments" / exp_id / "nnifc.db")
        open_tab(page, view, exp_id, "trials", "#panel")
        while True:  # each time the store has one more finished trial, the page shows it
            done = sum(1 for t in store.trials() if t.status.final)
            if done == 3:
                break
            while sum(1 for t in store.trials() if t.status.final) == done:
                time.sleep(0.05)
            changed = time.monotonic()
            page.wait_for_function(
                f"document.querySelectorAll('#trials-table td.status-succeeded').length >= {done + 1}",
                timeout=2_000,
            )
            assert time.monotonic() - changed < 2.0
        page.screenshot(path=shots / "running.png", full_page=True)
        environ = environment(home)
        assert environ["NNIFC_HOME"] == str(home)
    finally:
        view.stop()


def test_a_running_trials_log_is_followed(page: Any, tmp_path: Path) -> None:
    home = tmp_path / "home"
    space = {
        **SPACE,
        "k": {"_type": "choice", "_value": [3]},
        "pause": {"_type": "choice", "_value": [1.0]},
    }
    config = write_experiment(tmp_path, trials=1, concurrency=1, space=space)
    (tmp_path / "code" / "trial.py").write_text(
        (tmp_path / "code" / "trial.py")
        .read_text()
        .replace(
            "nni.report_intermediate_result(score + step)",
            "nni.report_intermediate_result(score + step); print('step', step, flush=True)",
        )
    )
    result = nnifc(home, "create", "--config", str(config), "--detach")
    assert result.returncode == 0, result.stderr
    exp_id = result.stdout.split()[1]
    store = Store(home / "experiments" / exp_id / "nnifc.db")
    view = Server(home)
    try:
        deadline = time.monotonic() + 30
        while not store.trials() or store.trials()[0].started is None:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        trial = store.trials()[0]
        page.goto(f"{view.url}#/e/{exp_id}/t/{trial.id}")
        page.wait_for_selector("#trial[data-ready]")
        page.wait_for_function(
            "document.getElementById('log').textContent.includes('step 0')", timeout=10_000
        )
        assert "step 3" not in page.inner_text("#log")  # read while it runs
        page.wait_for_function(
            "document.getElementById('log').textContent.includes('step 3')", timeout=10_000
        )
        assert page.inner_text("#log").count("step 1") == 1  # followed, never repeated
    finally:
        view.stop()


def test_the_report_opens_offline_and_shows_the_plots(
    browser: Any, finished: Finished, tmp_path: Path, shots: Path
) -> None:
    path = tmp_path / "report.html"
    assert nnifc(finished.home, "report", finished.id, "-o", str(path)).returncode == 0
    context = browser.new_context(offline=True)
    requested: list[str] = []

    def record(route: Any) -> None:
        requested.append(route.request.url)
        route.continue_()

    context.route("**/*", record)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_selector("#panel[data-ready]")
    assert page.inner_text("#exp-name") == HOSTILE_NAME
    assert page.locator("#trials-table tbody tr").count() == 10
    page.click("th[data-key=final]")
    scored = [t for t in finished.store().trials() if t.status.value == "SUCCEEDED"]
    for tab, chart in (
        ("history", "#chart-history"),
        ("curves", "#chart-curves"),
        ("parallel", "#chart-parallel"),
    ):
        page.goto(f"{path.as_uri()}#/e/{finished.id}/{tab}")
        page.wait_for_selector(f"{chart}[data-ready]")
    page.goto(f"{path.as_uri()}#/e/{finished.id}/history")
    page.wait_for_selector("#chart-history[data-ready]")
    assert page.evaluate("document.getElementById('chart-history').data[0].y") == [
        t.final for t in scored
    ]
    page.screenshot(path=shots / "report.png", full_page=True)
    assert page.evaluate("window.pwned") is None
    assert [u for u in requested if not u.startswith("file:")] == []
    context.close()
    assert not errors, errors


def test_a_late_error_from_a_page_left_does_not_replace_the_page_opened(
    page: Any, server: Server, finished: Finished
) -> None:
    """The answer for a page the user already left (here: a slow 404 for an unknown experiment)
    must not be drawn over the page they opened meanwhile."""
    trial = finished.store().trials()[0]
    page.goto(f"{server.url}#/")
    page.wait_for_selector("main[data-ready=experiments]")
    page.evaluate(
        """([target]) => {
            const fetched = window.fetch;
            window.fetch = (url, options) => String(url).includes("nosuchexp")
                ? new Promise((done) => setTimeout(done, 1000)).then(() => fetched(url, options))
                : fetched(url, options);
            location.hash = "#/e/nosuchexp";
            setTimeout(() => { location.hash = target; }, 50);
        }""",
        [f"#/e/{finished.id}/t/{trial.id}"],
    )
    page.wait_for_selector("#trial[data-ready]", timeout=20_000)
    page.wait_for_timeout(2_000)  # the slow 404 has come back by now
    assert page.locator("#trial[data-ready]").count() == 1
