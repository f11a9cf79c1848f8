"""Commands that only some platforms can serve (`status --cluster`, `stop --orphans`) go through
optional Platform hooks: a platform without one refuses in a line, never with a crash."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from nnifc.errors import PlatformError
from nnifc.platforms import PLATFORMS
from tests.conftest import run_nnifc


def test_status_from_the_cluster_of_a_local_experiment_is_refused_in_a_line(
    home: Path, experiment_files: Callable[..., Path]
) -> None:
    config = experiment_files("print('hi')\n")
    result = run_nnifc("status", "abcd1234", "--cluster", "--config", str(config))
    assert result.returncode == 1, result
    assert "status --cluster is not supported on the local platform" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_platform_without_orphans_says_so() -> None:
    with pytest.raises(PlatformError, match="stop --orphans is not supported on the local"):
        PLATFORMS["local"].remove_orphans({}, running=set())
