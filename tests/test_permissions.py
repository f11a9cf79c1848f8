"""Who may read and write what nnifc leaves behind, whatever the umask.

Why: $NNIFC_HOME holds each experiment's database, parameters and trial logs, which can carry
secrets; other local users must read none of it (0700 directories, 0600 files). On the shared
NFS export, `nni/` is shared by every user's experiments and written by pods of unknown uids:
only what they must write is writable by others, and the shared parents are sticky (like /tmp)
so nobody removes or renames what someone else made.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nnifc.codedir import collect
from nnifc.storage.nfs import NfsOptions, NfsStorage
from tests.conftest import created_id, run_nnifc, status_json, wait_for
from tests.ganesha import Ganesha, start_ganesha

TRIAL = """\
    import os
    import nni

    params = nni.get_next_parameter()
    with open(os.path.join(os.environ["NNI_OUTPUT_DIR"], "model.txt"), "w") as f:
        f.write("weights")  # written with the user's umask, inside nnifc's private directories
    print("secret-looking output", flush=True)
    nni.report_final_result(params["x"])
"""


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The common default, which makes new files world-readable; children inherit it."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def modes(root: Path) -> dict[str, str]:
    """Every path under `root` (and `root`) with its permission bits, as octal text."""
    found = {".": oct(stat.S_IMODE(root.lstat().st_mode))}
    for path in sorted(root.rglob("*")):
        found[path.relative_to(root).as_posix()] = oct(stat.S_IMODE(path.lstat().st_mode))
    return found


def test_local_state_is_private_whatever_the_umask(
    home: Path, experiment_files: Callable[..., Path], umask_022: None
) -> None:
    result = run_nnifc("create", "--config", str(experiment_files(TRIAL, max_trials=2)), "--detach")
    assert result.returncode == 0, result.stderr
    exp_id = created_id(result)
    wait_for(lambda: status_json(exp_id)["status"] == "DONE", what="the experiment to end")
    found = modes(home)
    assert any(p.endswith("/output/local_0/model.txt") for p in found), found  # the walk saw it
    assert any(p.endswith("/launcher.log") for p in found), found
    assert any(p.endswith("/nnifc.db") for p in found), found
    dirs = {p for p in found if (home / p).is_dir() and not (home / p).is_symlink()}
    # the user's command keeps the user's umask; what it writes sits in 0700 directories
    by_trial = {p for p in found if p.endswith(("/model.txt", "/trial.log")) or "/.nni/" in p}
    assert {found[p] for p in by_trial if p not in dirs} == {oct(0o644)}, by_trial
    wrong = {
        p: mode
        for p, mode in found.items()
        if p not in by_trial and mode != (oct(0o700) if p in dirs else oct(0o600))
    }
    assert wrong == {}


def test_reports_directory_and_home_made_by_it_are_private(home: Path, umask_022: None) -> None:
    """The report of an unexpected error may be the first thing written under a new home."""
    from nnifc.cli import _write_report

    assert not home.exists()
    try:
        raise RuntimeError("a bug")
    except RuntimeError:
        report = Path(_write_report(None))  # type: ignore[arg-type]
    assert report.is_file()
    assert set(modes(home).values()) <= {oct(0o700), oct(0o600)}, modes(home)


@pytest.fixture
def fresh_share(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Ganesha]:
    """A share of its own: `nni/` must be made by the storage, not left by another test."""
    server = start_ganesha(tmp_path_factory.mktemp("ganesha-modes"))
    monkeypatch.setenv("NNIFC_NFS_PORT", str(server.port))
    yield server
    server.stop()


def test_share_modes_let_pods_write_only_where_they_must(
    fresh_share: Ganesha, tmp_path: Path, umask_022: None
) -> None:
    config = {"nfs": {"server": fresh_share.server, "path": fresh_share.path}}
    storage = NfsStorage(NfsOptions.model_validate(config))
    (tmp_path / "pkg").mkdir()
    (tmp_path / "main.py").write_text("")
    (tmp_path / "pkg" / "m.py").write_text("")
    try:
        storage.check()
        storage.upload(collect(tmp_path), "nni/exp1/code")
        storage.write("nni/exp1/trial1/parameter.cfg", b"{}")
    finally:
        storage.close()
    assert modes(fresh_share.local_dir / "nni") == {
        ".": oct(0o1777),  # every user's launcher makes its experiment here
        "exp1": oct(0o1777),  # the experiment's pods, whatever their uid, make trial dirs here
        "exp1/code": oct(0o755),  # only the launcher writes the code
        "exp1/code/main.py": oct(0o644),
        "exp1/code/pkg": oct(0o755),
        "exp1/code/pkg/m.py": oct(0o644),
        "exp1/trial1": oct(0o777),  # pods write outputs next to parameter.cfg
        "exp1/trial1/parameter.cfg": oct(0o644),
    }
