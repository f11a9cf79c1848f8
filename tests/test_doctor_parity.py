"""NNI keys nnifc accepts but does not act on, `reuse`/`reuseMode` and `uploadRetryCount`, are
named in the load warning with their line, like every other key that means nothing here."""

from __future__ import annotations

from pathlib import Path

from nnifc import config

EXAMPLES = Path(__file__).parent / "configs" / "nni"


def _ignored(path: Path, text: str) -> str:
    experiment = config.load(path, text=text)
    (warning,) = [w for w in experiment.warnings if "ignoring keys" in w]
    return warning


def test_v1_reuse_and_upload_retry_count_are_warned_at_their_lines() -> None:
    path = EXAMPLES / "v1-custom-manager.yml"
    text = path.read_text().replace(
        "  uploadRetryCount: 3\n", "  uploadRetryCount: 3\n  reuse: true\n"
    )
    lines = text.splitlines()
    retry = lines.index("  uploadRetryCount: 3") + 1
    warning = _ignored(path, text)
    assert f"frameworkcontrollerConfig.uploadRetryCount (line {retry})" in warning
    assert f"frameworkcontrollerConfig.reuse (line {retry + 1})" in warning


def test_v2_reuse_mode_is_warned_at_its_line() -> None:
    path = EXAMPLES / "v2-full.yml"
    text = path.read_text()
    line = text.splitlines().index("  reuseMode: true") + 1
    assert f"trainingService.reuseMode (line {line})" in _ignored(path, text)


def test_a_config_without_them_has_no_such_warning() -> None:
    path = EXAMPLES / "v1-mnist-pytorch.yml"
    warning = _ignored(path, path.read_text())
    assert "reuse" not in warning and "uploadRetryCount" not in warning
