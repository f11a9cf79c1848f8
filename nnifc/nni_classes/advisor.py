"""NniAdvisor: a user's NNI advisor (a `MsgDispatcherBase` subclass) driven by nnifc's loop.

Why an adapter of its own: an advisor is not called like a tuner. NNI's manager sends it
messages over a websocket and it answers with `send`. Here the object is built without a
websocket (NNI's own `ws://_unittest_` command-channel URL, which skips `connect`), its worker
threads are never started, and the loop calls its `handle_*` methods directly, keeping what it
`send`s instead of sending it. The messages have the shapes NNI's manager gives them:
- `handle_initialize(search space)` once, when the object is built;
- `handle_request_trial_jobs(1)` when a slot is free; each `NewTrialJob` it sends (then, or
  later from another handler) is one trial, with its `parameters` as they are;
- a trial this object proposed that ended: `handle_report_metric_data({"parameter_id",
  "trial_job_id", "type": "FINAL", "sequence": 0, "value": JSON text of the raw metric})` when it
  has a result, then `handle_trial_end({"trial_job_id", "event", "hyper_params": the JSON text of
  its NewTrialJob})`, event SUCCEEDED, FAILED (loss inf) or SYS_CANCELED (ended without a usable
  result; the history does not say how);
- each intermediate result of a trial this object proposed, as it arrives:
  `handle_report_metric_data({..., "type": "PERIODICAL", "sequence": n, "value": the JSON text
  the trial reported})`, n counting from 0 as NNI's SDK counts;
- a KillTrialJob for a running trial stops it early (EARLY_STOPPED, as NNI's manager does); its
  trial end then says EARLY_STOPPED, after its FINAL when it had reported one;
- any other result (a resumed loop's history, `nnifc import`'s points, trials an earlier loop
  started): `handle_import_data([{"parameter": ..., "value": ...}])`.
The history holds no trial ids: a result is matched to the earliest unfinished proposal with
equal parameters, and `trial_job_id` is this adapter's name for the proposal, not nnifc's id.

NoMoreTrialJobs: NNI's advisors answer it while a round runs and send the next trials once
results arrive. So it keeps the free slot empty (`wait`) while trials run, and the advisor is
asked again only once a trial has ended (NNI's manager asks once per ended trial); the loop
meanwhile polls its trials as always, without calling the advisor. With no trial running, the
answer ends the proposals and the experiment ends DONE, as under NNI.

Resume, as NNI's manager resumes an advisor: a fresh object, whose `load_checkpoint()` is called
first (`get_checkpoint_path()` is the experiment's `checkpoint` directory in every loop, for an
advisor that saves its own state there); then `handle_initialize`, `handle_import_data` of every
finished result, and `handle_add_customized_trial` with the trials an earlier loop started that
still run, each as NNI packs it (`parameter_source: "resumed"`, the advisor's own
`parameter_id`). Where NNI reruns those trials, nnifc follows them where they run; their
metrics, ends and kills keep the ids the earlier object gave them, which the adapter keeps in a
journal beside the checkpoint. An advisor without `handle_add_customized_trial` (NNI's base class
raises NotImplementedError, which ends an NNI experiment) hears of them as imported results when
they end. `nnifc update --search-space` builds a fresh object the same way, initialized with
the new space.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, cast

import numpy as np

from nnifc.errors import NnifcError
from nnifc.nni_classes.formats import nni_space, plain, raw_metric, tell_each
from nnifc.nni_classes.loading import (
    ClassProblem,
    ClassSource,
    instantiate,
    offer_checkpoint_dir,
    require_nni,
)
from nnifc.records import Params, Result
from nnifc.space import SearchSpace
from nnifc.stages import BUDGET_KEY
from nnifc.tuners.base import Tuner

UNCONNECTED = "ws://_unittest_nnifc"  # NNI's dispatcher connects to no URL with this prefix
JOURNAL = "nnifc-advisor-jobs.jsonl"  # in the state directory: each proposed job, one per line
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """A NewTrialJob: the advisor's id and parameters, and its text (TrialEnd's hyper_params)."""

    parameter_id: Any
    params: Params
    text: str
    trial_job_id: str


def build(source: ClassSource) -> tuple[Any, list[tuple[str, Any]]]:
    """The advisor built with its classArgs, unconnected, and the list its sends go to."""
    require_nni(source.name_key)
    base: Any = importlib.import_module("nni.runtime.msg_dispatcher_base")
    channels = importlib.import_module("nni.runtime.tuner_command_channel")
    env = base.dispatcher_env_vars
    base.dispatcher_env_vars = env._replace(NNI_TUNER_COMMAND_CHANNEL=UNCONNECTED)
    try:
        advisor = instantiate(source)
    finally:
        base.dispatcher_env_vars = env
    sent: list[tuple[str, Any]] = []
    channel = channels.TunerCommandChannel(UNCONNECTED)
    channel._send = lambda command, data: sent.append((command.name, data))
    advisor._channel = channel
    return advisor, sent


def check(source: ClassSource, space: SearchSpace) -> None:
    """At create: the advisor builds and takes the search space (ClassProblem otherwise)."""
    advisor, sent = build(source)
    try:
        advisor.handle_initialize(nni_space(space))
    except Exception as e:
        raise ClassProblem(
            source.name_key,
            f"{source.label} refused the search space: {type(e).__name__}: {e}",
        ) from None
    errors = [data for command, data in sent if command == "Error"]
    if errors:
        raise ClassProblem(source.name_key, f"{source.label} refused the search space: {errors[0]}")


class NniAdvisor(Tuner):
    """Bound to one class by `advisor_class`; the NNI object is built at the first call."""

    name = "NNI advisor"
    default_optimize_mode = None
    added_keys: ClassVar[frozenset[str]] = frozenset({BUDGET_KEY})
    takes_assessor = False
    source: ClassVar[ClassSource]
    optimize_mode: ClassVar[str] = "maximize"  # the experiment's: how metrics are un-oriented

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._nni: Any = None
        self._sent: list[tuple[str, Any]] = []
        self._told = 0  # history entries seen
        self._ready: list[Job] = []  # sent by the advisor, not proposed yet
        self._outstanding: list[Job] = []  # proposed, not yet ended
        self._may_ask = True  # False after an unanswered request, until a trial ends
        self._jobs: dict[str, Job] = {}  # by trial_job_id: what a KillTrialJob names
        self._to_stop: list[Job] = []  # kills asked, not yet handed to the loop
        self._killed: set[str] = set()  # trial_job_ids: their trial end says EARLY_STOPPED
        self._job_count = 0  # NewTrialJobs received, by this object and those before it

    def wait(self, history: Sequence[Result], pending: Sequence[Params]) -> bool:
        self.observe(history, pending)
        if not self._ready and self._may_ask:
            self._request()
        return not self._ready

    def propose(
        self, history: Sequence[Result], pending: Sequence[Params], rng: np.random.Generator
    ) -> Params | None:
        self.observe(history, pending)
        if not self._ready and (self._may_ask or not pending):
            self._request()
        if not self._ready:
            return None  # with nothing running: NNI's experiment ends here too
        job = self._ready.pop(0)
        self._outstanding.append(job)
        self._journal_add(job)  # before the loop records the trial: a resume can find it
        return job.params

    def observe(self, history: Sequence[Result], pending: Sequence[Params]) -> None:
        first = self._nni is None
        if first:
            self._start()
        new, self._told = history[self._told :], len(history)
        tell_each(new, self.optimize_mode, self._take, self._ended, self._import)
        if first and self.resumed:
            self._resume_running(pending)
        self._ended_without_result(pending)

    def progress(self, params: Params, step: int, raw: str) -> None:
        job = next((job for job in self._outstanding if job.params == params), None)
        if job is None:  # proposed by an earlier loop's object: unknown to this one
            return
        metric = {
            "parameter_id": job.parameter_id,
            "trial_job_id": job.trial_job_id,
            "type": "PERIODICAL",
            "sequence": step,
            "value": raw,
        }
        self._call("handle_report_metric_data", metric)

    def stops(self) -> list[Params]:
        asked, self._to_stop = self._to_stop, []
        return [job.params for job in asked if job in self._outstanding]

    def _start(self) -> None:
        offer_checkpoint_dir(self.state_dir)
        try:
            self._nni, self._sent = build(self.source)
        except ClassProblem as e:
            raise NnifcError(f"the advisor {self.source.label}: {e}") from None
        if self.resumed:  # as NNI's dispatcher does first when its experiment resumes
            self._job_count = len(self._journal_read())  # ids given before: never given again
            self._call("load_checkpoint")
        self._call("handle_initialize", nni_space(self.space))

    def _resume_running(self, pending: Sequence[Params]) -> None:
        """The trials an earlier object proposed that still run: told as NNI's manager tells
        them on resume, then followed under the ids that object gave them."""
        journal = self._journal_read()
        resumed: list[Job] = []
        for params in pending:
            job = next((j for j in reversed(journal) if j.params == params), None)
            if job is not None:
                journal.remove(job)
                resumed.append(job)
        if not resumed:
            return
        packed = [
            {
                "parameter_id": job.parameter_id,
                "parameter_source": "resumed",
                "parameters": dict(job.params),
                "parameter_index": 0,
            }
            for job in resumed
        ]
        for job in resumed:  # known before the call: it may kill them at once
            self._jobs[job.trial_job_id] = job
            self._outstanding.append(job)
        try:
            self._nni.handle_add_customized_trial(packed)
        except NotImplementedError:
            for job in resumed:
                del self._jobs[job.trial_job_id]
                self._outstanding.remove(job)
            _log.warning(
                "the advisor %s does not implement handle_add_customized_trial: the %d trials"
                " an earlier loop started are told to it as imported results when they end",
                self.source.label,
                len(resumed),
            )
            return
        except Exception as e:
            raise NnifcError(
                f"the advisor {self.source.label} raised {type(e).__name__} in"
                f" handle_add_customized_trial: {e}"
            ) from None
        self._read_sent("handle_add_customized_trial")

    def _journal_path(self) -> Path | None:
        return Path(self.state_dir) / JOURNAL if self.state_dir else None

    def _journal_add(self, job: Job) -> None:
        path = self._journal_path()
        if path is None:
            return
        line = json.dumps({**asdict(job), "params": dict(job.params)}, default=str)
        with path.open("a", encoding="utf-8") as journal:
            journal.write(line + "\n")

    def _journal_read(self) -> list[Job]:
        path = self._journal_path()
        if path is None or not path.is_file():
            return []
        jobs = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
                jobs.append(
                    Job(
                        entry["parameter_id"], entry["params"], entry["text"], entry["trial_job_id"]
                    )
                )
            except (ValueError, KeyError, TypeError):  # a line cut by a killed launcher
                continue
        return jobs

    def _request(self) -> None:
        before = len(self._ready)
        self._call("handle_request_trial_jobs", 1)
        self._may_ask = len(self._ready) > before

    def _take(self, params: Params) -> Job | None:
        for i, job in enumerate(self._outstanding):
            if job.params == params:
                del self._outstanding[i]
                return job
        return None

    def _ended(self, job: Job, loss: float) -> None:
        if math.isfinite(loss):
            value = _dumps(raw_metric(loss, self.optimize_mode))
            metric = {
                "parameter_id": job.parameter_id,
                "trial_job_id": job.trial_job_id,
                "type": "FINAL",
                "sequence": 0,
                "value": value,
            }
            self._call("handle_report_metric_data", metric)
        self._end(job, "SUCCEEDED" if math.isfinite(loss) else "FAILED")

    def _ended_without_result(self, pending: Sequence[Params]) -> None:
        """Proposals neither running nor in the history ended with nothing learnt."""
        running = list(pending)
        still: list[Job] = []
        for job in self._outstanding:
            if job.params in running:
                running.remove(job.params)
                still.append(job)
            else:
                self._end(job, "SYS_CANCELED")
        self._outstanding = still

    def _end(self, job: Job, event: str) -> None:
        self._may_ask = True  # NNI's manager asks for a trial each time one ends
        if job.trial_job_id in self._killed:
            event = "EARLY_STOPPED"
        data = {"trial_job_id": job.trial_job_id, "event": event, "hyper_params": job.text}
        self._call("handle_trial_end", data)

    def _import(self, records: list[dict[str, Any]]) -> None:
        self._call("handle_import_data", records)

    def _call(self, method: str, *args: Any) -> None:
        try:
            getattr(self._nni, method)(*args)
        except Exception as e:
            raise NnifcError(
                f"the advisor {self.source.label} raised {type(e).__name__} in {method}: {e}"
            ) from None
        self._read_sent(method)

    def _read_sent(self, method: str) -> None:
        sent = list(self._sent)
        self._sent.clear()
        for command, data in sent:
            handle = self._handlers().get(command)
            if handle is not None:
                handle(data, method)

    def _handlers(self) -> dict[str, Callable[[Any, str], None]]:
        return {
            "NewTrialJob": self._new_job,
            "KillTrialJob": self._kill,
            "SendTrialJobParameter": self._unsupported,
            "Error": self._error,
        }

    def _new_job(self, data: Any, method: str) -> None:
        text = data if isinstance(data, str) else _dumps(data)
        job = _loads(text) if isinstance(data, str) else data
        params = plain(job.get("parameters")) if isinstance(job, dict) else None
        if not isinstance(params, dict):
            raise NnifcError(
                f"the advisor {self.source.label} sent a NewTrialJob in {method} without"
                f" parameters (a mapping of parameter names to values): {text[:200]}"
            )
        self._job_count += 1
        trial_job_id = f"nnifc-{self._job_count}"
        self._jobs[trial_job_id] = Job(job.get("parameter_id"), params, text, trial_job_id)
        self._ready.append(self._jobs[trial_job_id])

    def _kill(self, data: Any, method: str) -> None:
        trial_job_id = str(_loads(data) if isinstance(data, str) else data)
        job = self._jobs.get(trial_job_id)
        if job is None or job.trial_job_id in self._killed:
            return self._kill_ignored(method, trial_job_id, "which it never sent or killed before")
        if job not in self._ready and job not in self._outstanding:
            return self._kill_ignored(method, trial_job_id, "which has ended: nothing to stop")
        self._killed.add(trial_job_id)
        if job in self._ready:  # sent, never started: it ends here
            self._ready.remove(job)
            self._end(job, "EARLY_STOPPED")
        else:
            self._to_stop.append(job)

    def _kill_ignored(self, method: str, trial_job_id: str, why: str) -> None:
        _log.warning(
            "the advisor %s asked in %s to kill trial job %s, %s",
            self.source.label,
            method,
            trial_job_id,
            why,
        )

    def _unsupported(self, data: Any, method: str) -> None:
        _log.warning(
            "the advisor %s sent SendTrialJobParameter in %s: multi-phase trials are not"
            " supported, ignored",
            self.source.label,
            method,
        )

    def _error(self, data: Any, method: str) -> None:
        raise NnifcError(f"the advisor {self.source.label} reported an error in {method}: {data}")


def _dumps(value: Any) -> str:
    return cast(str, importlib.import_module("nni").dump(value))


def _loads(text: str) -> Any:
    return importlib.import_module("nni").load(text)


def advisor_class(source: ClassSource, optimize_mode: str) -> type[NniAdvisor]:
    """A Tuner class for this source, as `Experiment.tuner_class` holds it."""
    attributes = {"source": source, "optimize_mode": optimize_mode, "name": source.class_name}
    return cast(type[NniAdvisor], type(f"Nni{source.class_name}", (NniAdvisor,), attributes))
