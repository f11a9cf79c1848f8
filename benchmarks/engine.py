"""The launcher at scale (issue 7): N trials, C at once, TPE, against k8sim in fast mode + ganesha.

Why: the launcher's own costs (CPU, API requests, storage reads, memory, reaction time) only
show at thousands of trials, and real trials would drown them. So the cluster double runs in its
own process with fast containers (tests/k8sim/fast.py: no process, the files a trial writes,
exit 0 after --delay s), code and outputs live on a real nfs-ganesha, and `nnifc create` runs
in the foreground as a child whose rusage is the launcher's alone. Per size it reports:

- launcher CPU/trial: user+sys of the launcher process (os.wait4), start-up imports included,
  minus `tunerSeconds` from `nnifc status --json` when the launcher reports it (tuner CPU/trial
  is shown apart; "n/a" when not reported, and then CPU/trial includes the tuner). The issue
  sets its 3 ms for the 10,000-trial run and asks that cost per trial not grow with size, so
  those are the checks; `start s` is the CPU spent before the first create (imports, checks,
  the upload), a fixed cost that weighs ten times as much per trial at 1,000 trials;
- completion-to-next-submit p50/p99: the simulator's time each Framework reached Completed,
  paired in order with the Framework create requests beyond the first C (FIFO);
- API requests/trial: every request the double answered while the launcher ran, divided by N
  (and without the preflight, i.e. before the first create);
- bytes read/trial: bytes returned by the launcher's NFS client reads (`nfs_rs` file objects,
  counted by a shim that wraps the client and runs the unmodified CLI), against the bytes the
  trials wrote (their output files on the export); ganesha has no per-client byte counters here;
- peak RSS (ru_maxrss), `nnifc status EXP` wall time (median of 3), and the code upload of a
  2000-file 50 MB codeDir (benchmarks/upload.py's tree) to the same ganesha, once.

- sim ms/t: the cluster double's own CPU per trial, to show what share of the two cores the
  rest of the system takes (not a target).
- a note line splits completion-to-submit into its legs (p50/p99 each): the double's watch
  delivery of Completed, the launcher's reaction (Completed received -> create sent, timed in
  the launcher by the shim) and the create's way into the double, so a backlog shows where it is.

Why tasks run 10 s by default: with C trials at once and tasks of d seconds, the whole machine
(launcher, cluster double, ganesha, on two cores) must turn C/d trials around per second. At
500 and 2 s that is 250 a second; at about 5-6 ms for the double and 6-7 ms for the launcher
with its tuner per trial, that is more than the two cores, so any launcher would queue, and
completion-to-submit would measure that backlog rather than the launcher. 10 s (50 a second)
keeps the machine below saturation; `--delay 2` shows the saturated throughput.

Exits non-zero when a target is missed. Needs nfs-ganesha:

    .venv/bin/python benchmarks/engine.py --sizes 1000x100,10000x500 --delay 10
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.*

MB = 2**20
SHIM = "--launcher-shim"
TARGETS = {
    "cpu_ms": 3.0,  # launcher CPU per trial, tuner excluded, at TARGET_SIZE
    "p50_ms": 50.0,
    "p99_ms": 250.0,
    "requests": 3.0,  # API requests per trial
    "read_ratio": 2.0,  # bytes read / bytes written per trial
    "rss_mb": 300.0,
    "status_s": 0.5,
}
TARGET_SIZE = 10_000  # the issue sets the CPU target for this run; smaller ones show growth
GROWTH = 1.10  # CPU per trial may not grow by more than this (noise) from one size to a larger


# ---- the launcher shim (runs in the launcher's process) ---------------------------------------


def run_shim(counts_path: str, argv: list[str]) -> None:
    """Count what the launcher's NFS client reads, then run the nnifc CLI as `nnifc` would."""
    import atexit

    import nfs_rs

    counts: dict[str, Any] = {"read_bytes": 0, "read_calls": 0, "errors": {}}

    def failed(error: BaseException) -> None:
        name = f"{type(error).__name__}: {str(error)[:80]}"
        counts["errors"][name] = counts["errors"].get(name, 0) + 1

    class CountingFile:
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def __enter__(self) -> CountingFile:
            self._inner.__enter__()
            return self

        def __exit__(self, *exc: object) -> Any:
            try:
                return self._inner.__exit__(*exc)
            except Exception as e:
                failed(e)
                raise

        def _count(self, data: Any) -> Any:
            counts["read_calls"] += 1
            if isinstance(data, bytes | bytearray):
                counts["read_bytes"] += len(data)
            return data

        def read(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return self._count(self._inner.read(*args, **kwargs))
            except Exception as e:
                failed(e)
                raise

        def read_at(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return self._count(self._inner.read_at(*args, **kwargs))
            except Exception as e:
                failed(e)
                raise

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

    class CountingClient:
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        @classmethod
        def connect(cls, *args: Any, **kwargs: Any) -> CountingClient:
            return cls(real_connect(*args, **kwargs))

        def open(self, *args: Any, **kwargs: Any) -> CountingFile:
            try:
                return CountingFile(self._inner.open(*args, **kwargs))
            except Exception as e:
                failed(e)
                raise

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

    real_connect = nfs_rs.Client.connect
    setattr(nfs_rs, "Client", CountingClient)  # noqa: B010 (nnifc.storage.nfs looks it up per connect)
    record_reactions(counts)

    def dump() -> None:
        Path(counts_path).write_text(json.dumps(counts))

    atexit.register(dump)
    from nnifc.cli import main

    sys.argv = ["nnifc", *argv]
    main()


def record_reactions(counts: dict[str, Any]) -> None:
    """When the launcher's watch thread receives each Completed, and when it sends each create.

    With the double's own times these split completion-to-submit into watch delivery, the
    launcher's reaction and the create's way to the double, so a backlog is put where it is.
    """
    from nnifc.platforms.frameworkcontroller.client import Frameworks
    from nnifc.platforms.frameworkcontroller.feed import Feed

    seen: dict[str, float] = {}
    sent: list[float] = []
    counts["completed_seen"], counts["creates_sent"] = seen, sent
    on_event, create = Feed._on_event, Frameworks.create

    def seeing(self: Feed, kind: str, raw: dict[str, Any]) -> None:
        if (raw.get("status") or {}).get("state") == "Completed":
            seen.setdefault(raw["metadata"]["name"], time.time())
        on_event(self, kind, raw)

    def sending(self: Frameworks, body: dict[str, Any]) -> dict[str, Any]:
        counts.setdefault("startup_cpu", time.process_time())  # before the first create
        sent.append(time.time())
        return create(self, body)

    setattr(Feed, "_on_event", seeing)  # noqa: B010
    setattr(Frameworks, "create", sending)  # noqa: B010


# ---- the run -------------------------------------------------------------------------------


@dataclass
class Row:
    trials: int
    concurrency: int
    wall: float = 0.0
    done: int = 0
    cpu_ms: float = 0.0  # launcher CPU per trial, tuner excluded when known
    startup_s: float = 0.0  # launcher CPU before its first create (imports, checks, upload)
    tuner_ms: float | None = None
    sim_ms: float = 0.0  # the cluster double's CPU per trial, for scale (not a target)
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    requests: float = 0.0
    requests_run: float = 0.0  # without the preflight
    read_bytes: float = 0.0
    written_bytes: float = 0.0
    rss_mb: float = 0.0
    status_s: float = 0.0
    code_dirs: int = 0
    misses: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


TRIAL = """\
import nni

params = nni.get_next_parameter()
score = 1 - sum((v - 0.3) ** 2 for v in params.values())  # what k8sim's fast mode reports
for step in range(3):
    nni.report_intermediate_result(score - 0.1 * (3 - step))
nni.report_final_result(score)
"""
SPACE = {
    "x": {"_type": "uniform", "_value": [0, 1]},
    "y": {"_type": "uniform", "_value": [0, 1]},
    "lr": {"_type": "loguniform", "_value": [0.0001, 0.1]},
    "layers": {"_type": "randint", "_value": [1, 8]},
}


def write_experiment(workdir: Path, trials: int, concurrency: int, server: str, path: str) -> Path:
    from tests.fcconfig import Role, fc_config, nfs_storage

    return fc_config(
        workdir,
        nfs_storage(server, path),
        trial=TRIAL,
        space=SPACE,
        name=f"engine_{trials}x{concurrency}",
        trials=trials,
        concurrency=concurrency,
        roles=(Role("trial"),),
        tuner={"builtinTunerName": "TPE", "classArgs": {"optimize_mode": "maximize"}},
        extra={"authorName": "bench", "maxExecDuration": "100h", "useAnnotation": False},
    )


def start_simulator(workdir: Path, delay: float, nfs: str, report: Path) -> tuple[Any, Path]:
    """`python -m tests.k8sim --fast` in its own process; (process, kubeconfig)."""
    command = [sys.executable, "-m", "tests.k8sim", "--fast", str(delay), "--nfs", nfs]
    proc = subprocess.Popen(
        [*command, "--report", str(report)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        stderr=(workdir / "k8sim.err").open("w"),
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("export KUBECONFIG="):
            return proc, Path(line.strip().split("=", 1)[1])
    raise RuntimeError(f"k8sim did not start: {(workdir / 'k8sim.err').read_text()[-2000:]}")


def cpu_seconds(pid: int) -> float:
    """user + system CPU of a running process, all its threads (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop_simulator(proc: Any, report: Path) -> dict[str, Any]:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    data: dict[str, Any] = json.loads(report.read_text())
    return data


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def submit_delays(report: dict[str, Any], concurrency: int, start: float) -> list[float]:
    """Seconds from each Completed to the create it freed a slot for (FIFO pairing)."""
    creates = sorted(
        r["time"]
        for r in report["requests"]
        if r["verb"] == "create"
        and r["resource"] == "frameworks"
        and r["status"] == 201
        and r["time"] >= start
    )
    completed = sorted(c["time"] for c in report["completed"] if c["time"] >= start)
    later = creates[concurrency:]
    return [create - done for done, create in zip(completed, later, strict=False)]


def delay_split(
    report: dict[str, Any], launcher: dict[str, Any], concurrency: int, start: float
) -> str:
    """completion-to-submit in three legs, each p50/p99 in ms: the double's watch delivery of
    Completed, the launcher's reaction (Completed received -> create sent, FIFO as above) and
    the create's way into the double (sent -> answered, in order)."""
    seen: dict[str, float] = launcher["completed_seen"]
    done = {c["name"]: c["time"] for c in report["completed"] if c["time"] >= start}
    delivery = [seen[name] - t for name, t in done.items() if name in seen]
    sent = sorted(launcher["creates_sent"])
    reaction = [c - s for s, c in zip(sorted(seen.values()), sent[concurrency:], strict=False)]
    received = sorted(
        r["time"]
        for r in report["requests"]
        if r["verb"] == "create" and r["resource"] == "frameworks" and r["time"] >= start
    )
    transport = [r - s for s, r in zip(sent, received, strict=False)]
    legs = {
        "watch delivery": delivery,
        "launcher reaction": reaction,
        "create to double": transport,
    }
    return "completion-to-submit by leg, p50/p99 ms: " + ", ".join(
        f"{leg} {percentile(v, 50) * 1000:.0f}/{percentile(v, 99) * 1000:.0f}"
        for leg, v in legs.items()
    )


def output_bytes(export: Path, exp_id: str) -> tuple[int, int, int]:
    """(bytes of every trial's output files, trials with outputs, code directories) on the share."""
    root = export / "nni" / exp_id
    total = trials = 0
    for trial in root.iterdir():
        if not (trial / "output").is_dir():
            continue
        trials += 1
        total += sum(f.stat().st_size for f in (trial / "output").rglob("*") if f.is_file())
    code_dirs = sum(1 for p in root.rglob("code") if p.is_dir())
    return total, trials, code_dirs


def nnifc(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nnifc", *args], env=env, capture_output=True, text=True, check=False
    )


def run_size(
    trials: int, concurrency: int, delay: float, scratch: Path, profile: Path | None = None
) -> Row:
    from tests.ganesha import start_ganesha

    row = Row(trials, concurrency)
    work = scratch / f"{trials}x{concurrency}"
    work.mkdir()
    server = start_ganesha(work / "ganesha")
    report_path = work / "k8sim.json"
    nfs = f"{server.server}:{server.path}={server.local_dir}"
    sim, kubeconfig = start_simulator(work, delay, nfs, report_path)
    report: dict[str, Any] = {"requests": [], "completed": [], "errors": []}
    try:
        config = write_experiment(work, trials, concurrency, server.server, server.path)
        env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "NNIFC_HOME": str(work / "home"),
            "NNIFC_NFS_PORT": str(server.port),
        }
        counts = work / "nfs-reads.json"
        command = [sys.executable, __file__, SHIM, str(counts), "create", "--config", str(config)]
        sim_started = cpu_seconds(sim.pid)
        start = time.time()
        with (work / "launcher.out").open("w") as out:
            launcher = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
            spy = None
            if profile is not None:  # py-spy samples from outside: the launcher's rusage is its own
                raw = profile / f"launcher-{trials}x{concurrency}.raw"
                spy_args = ["record", "-r", "100", "--gil", "-f", "raw", "-o", str(raw)]
                spy = subprocess.Popen(
                    ["py-spy", *spy_args, "--pid", str(launcher.pid)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            _, status, usage = os.wait4(launcher.pid, 0)
            if spy is not None:
                spy.wait(timeout=60)
        row.wall = time.time() - start
        launcher.returncode = os.waitstatus_to_exitcode(status)
        output = (work / "launcher.out").read_text(errors="replace")
        if launcher.returncode != 0:
            row.notes.append(f"launcher exited {launcher.returncode}: {output[-500:]}")
        exp_id = next(
            (line.split()[1] for line in output.splitlines() if line.startswith("experiment ")), ""
        )
        cpu = usage.ru_utime + usage.ru_stime
        row.rss_mb = usage.ru_maxrss / 1024
        shown = nnifc(env, "status", exp_id, "--json") if exp_id else None
        data: dict[str, Any] = json.loads(shown.stdout) if shown and shown.returncode == 0 else {}
        row.done = sum(t.get("status") == "SUCCEEDED" for t in data.get("trials", []))
        tuner = data.get("stats", {}).get("tunerSeconds")
        if isinstance(tuner, int | float):
            row.tuner_ms = tuner * 1000 / trials
            cpu -= tuner
        row.cpu_ms = cpu * 1000 / trials
        latencies = []
        for _ in range(3):
            begin = time.perf_counter()
            nnifc(env, "status", exp_id)
            latencies.append(time.perf_counter() - begin)
        row.status_s = statistics.median(latencies)
        read: dict[str, Any] = {"read_bytes": 0}
        if counts.exists():
            read = json.loads(counts.read_text())
        row.startup_s = read.get("startup_cpu", 0.0)
        row.read_bytes = read["read_bytes"] / trials
        if read.get("errors"):
            row.notes.append(f"NFS client errors: {read['errors']}")
        if exp_id:
            written, with_outputs, row.code_dirs = output_bytes(server.local_dir, exp_id)
            row.written_bytes = written / max(with_outputs, 1)
        row.sim_ms = (cpu_seconds(sim.pid) - sim_started) * 1000 / trials
    finally:
        report = stop_simulator(sim, report_path)
        server.stop()
    if report["errors"]:
        row.notes.append("k8sim raised: " + report["errors"][0][-500:])
    during = [r for r in report["requests"] if start <= r["time"] <= start + row.wall]
    creates = [r["time"] for r in during if r["verb"] == "create" and r["resource"] == "frameworks"]
    row.requests = len(during) / trials
    row.requests_run = sum(r["time"] >= min(creates, default=start) for r in during) / trials
    delays = submit_delays(report, concurrency, start)
    row.p50_ms = percentile(delays, 50) * 1000
    row.p99_ms = percentile(delays, 99) * 1000
    if read.get("creates_sent"):
        row.notes.append(delay_split(report, read, concurrency, start))
    verbs: dict[str, int] = {}
    for r in during:
        key = f"{r['verb']} {r['resource']}"
        verbs[key] = verbs.get(key, 0) + 1
    row.notes.append("requests: " + ", ".join(f"{k} {v}" for k, v in sorted(verbs.items())))
    check(row)
    return row


def check(row: Row) -> None:
    t = TARGETS
    misses = row.misses
    if row.done != row.trials:
        misses.append(f"{row.done}/{row.trials} trials succeeded")
    if row.trials >= TARGET_SIZE and row.cpu_ms >= t["cpu_ms"]:
        misses.append(f"launcher CPU {row.cpu_ms:.2f} ms/trial >= {t['cpu_ms']}")
    if not row.p50_ms < t["p50_ms"]:
        misses.append(f"completion-to-submit p50 {row.p50_ms:.0f} ms >= {t['p50_ms']:.0f}")
    if not row.p99_ms < t["p99_ms"]:
        misses.append(f"completion-to-submit p99 {row.p99_ms:.0f} ms >= {t['p99_ms']:.0f}")
    if row.requests > t["requests"]:
        misses.append(f"{row.requests:.2f} API requests/trial > {t['requests']:.0f}")
    if row.read_bytes > t["read_ratio"] * row.written_bytes:
        misses.append(
            f"read {row.read_bytes:.0f} B/trial > {t['read_ratio']:.0f}x written {row.written_bytes:.0f}"
        )
    if row.code_dirs != 1:
        misses.append(f"{row.code_dirs} code directories on the share (want 1: no per-trial copy)")
    if row.rss_mb >= t["rss_mb"]:
        misses.append(f"peak RSS {row.rss_mb:.0f} MB >= {t['rss_mb']:.0f}")
    if row.status_s >= t["status_s"]:
        misses.append(f"nnifc status {row.status_s:.2f} s >= {t['status_s']}")


def check_growth(rows: list[Row]) -> None:
    """Cost per trial must not grow with the number of trials: each size against the smaller."""
    ordered = sorted(rows, key=lambda r: r.trials)
    for smaller, larger in itertools.pairwise(ordered):
        if larger.trials > smaller.trials and larger.cpu_ms > GROWTH * smaller.cpu_ms:
            larger.misses.append(
                f"launcher CPU per trial grew: {larger.cpu_ms:.2f} ms at {larger.trials} trials "
                f"> {GROWTH:.2f} x {smaller.cpu_ms:.2f} at {smaller.trials}"
            )


def upload_rate(scratch: Path) -> tuple[float, float]:
    """(seconds, MB/s) of NfsStorage.upload of upload.py's 2000-file 50 MB tree to ganesha."""
    from upload import many_files  # benchmarks/upload.py, beside this file

    from nnifc.codedir import collect
    from nnifc.storage.nfs import PORT_ENV, NfsOptions, NfsStorage
    from tests.ganesha import start_ganesha

    tree = scratch / "upload-tree"
    many_files(tree)
    server = start_ganesha(scratch / "upload-ganesha")
    previous = os.environ.get(PORT_ENV)
    try:
        os.environ[PORT_ENV] = str(server.port)
        nfs = {"server": server.server, "path": server.path}
        storage = NfsStorage(NfsOptions.model_validate({"nfs": nfs}))
        storage.check()
        files = collect(tree)
        size = sum(f.size for f in files)
        begin = time.perf_counter()
        storage.upload(files, "nni/bench/code")
        seconds = time.perf_counter() - begin
        storage.close()
    finally:
        server.stop()
        if previous is None:
            os.environ.pop(PORT_ENV, None)
        else:
            os.environ[PORT_ENV] = previous
    return seconds, size / MB / seconds


def table(rows: list[Row], upload: tuple[float, float]) -> str:
    head = (
        f"{'trials':>6} {'conc':>4} {'wall s':>7} {'done':>6} {'CPU ms/t':>8} {'start s':>7} "
        f"{'tuner ms/t':>10} {'sim ms/t':>8} "
        f"{'p50 ms':>6} {'p99 ms':>6} {'req/t':>5} {'(run)':>5} {'read B/t':>8} {'wrote B/t':>9} "
        f"{'RSS MB':>6} {'status s':>8} {'upload MB/s':>11}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        tuner = f"{r.tuner_ms:.2f}" if r.tuner_ms is not None else "n/a"
        lines.append(
            f"{r.trials:>6} {r.concurrency:>4} {r.wall:>7.1f} {r.done:>6} {r.cpu_ms:>8.2f} "
            f"{r.startup_s:>7.2f} {tuner:>10} {r.sim_ms:>8.2f} {r.p50_ms:>6.0f} {r.p99_ms:>6.0f} {r.requests:>5.2f} "
            f"{r.requests_run:>5.2f} {r.read_bytes:>8.0f} {r.written_bytes:>9.0f} "
            f"{r.rss_mb:>6.0f} {r.status_s:>8.2f} {upload[1]:>11.1f}"
        )
    lines.append(
        f"targets: CPU < {TARGETS['cpu_ms']} ms/trial (tuner excluded) at {TARGET_SIZE} trials "
        f"and not growing with size (start s, CPU before the first create, is in CPU), p50 < "
        f"{TARGETS['p50_ms']:.0f} ms, p99 < {TARGETS['p99_ms']:.0f} ms, <= "
        f"{TARGETS['requests']:.0f} requests/trial, read <= {TARGETS['read_ratio']:.0f}x wrote, "
        f"RSS < {TARGETS['rss_mb']:.0f} MB, status < {TARGETS['status_s']} s; upload of 2000 "
        f"files / 50 MB took {upload[0]:.2f} s"
    )
    return "\n".join(lines)


def parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for item in text.split(","):
        trials, _, concurrency = item.strip().partition("x")
        sizes.append((int(trials), int(concurrency)))
    return sizes


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == SHIM:
        run_shim(sys.argv[2], sys.argv[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000x100,10000x500", help="TRIALSxCONCURRENCY,...")
    parser.add_argument("--delay", type=float, default=10.0, help="seconds each fast task runs")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="record the launcher's CPU with py-spy (raw format) into DIR",
    )
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="nnifc-engine-"))
    rows = []
    try:
        upload = upload_rate(scratch)
        for trials, concurrency in parse_sizes(args.sizes):
            row = run_size(trials, concurrency, args.delay, scratch, args.profile)
            rows.append(row)
            print(f"{trials}x{concurrency} done in {row.wall:.1f} s", file=sys.stderr, flush=True)
    finally:
        if not args.keep:
            subprocess.run(["rm", "-rf", str(scratch)], check=False)
        else:
            print(f"scratch kept in {scratch}", file=sys.stderr)
    check_growth(rows)
    print(table(rows, upload))
    failed = False
    for row in rows:
        for note in row.notes:
            print(f"{row.trials}x{row.concurrency}: {textwrap.shorten(note, 400)}")
        for miss in row.misses:
            print(f"MISSED {row.trials}x{row.concurrency}: {miss}")
            failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
