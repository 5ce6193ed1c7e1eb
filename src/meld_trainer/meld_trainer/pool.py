"""Collection in parallel worker processes, each with its own simulator and a CPU copy of the filter and actor.

    with CollectorPool(env_id, cfg, episodes_per_trial, workers=4) as pool:
        version = pool.publish(trainer.model, trainer.actor)        # the learner's weights, for the next jobs
        job_id = pool.submit(TrialJob(task_id=3, seed=17), version)
        episodes, summary = pool.result(job_id)                      # results come back in submission order

Why it is built this way:
- Weights travel through shared memory, not pipes: `publish` writes the learner's model and actor
  into one of `workers + 2` slots and returns its version; a job names the version it must run with,
  and a worker copies that slot before the trial. At most `workers` jobs are in flight and the learner
  publishes once per consumed result, so a slot is never overwritten while a job still needs it.
- A trial is a pure function of (weights version, job) (`collect.run_trial`), so results do not
  depend on which worker ran a job or when: the learner consumes them in submission order, and a run
  with workers is as reproducible as one without.
- A worker that dies (OOM-killed, a crashed simulator) is started again and its jobs are resubmitted
  with the same version and seed, so nothing about the run changes; the log names it.
- Each worker has its own job queue and its own result pipe, and nothing else is shared but the
  weight slots. A shared `multiprocessing.Queue` for results would hold a cross-process lock while a
  worker writes a result bigger than the pipe's buffer (any image trial): a worker killed then leaves
  the lock taken and a half-written message in the pipe, and every later result waits forever. A
  worker killed mid-result here costs only its own pipe, which reads as closed (the parent keeps no
  copy of its write end), and is replaced with the worker.
- `close()` (also on leaving the `with` block, and at interpreter exit) stops every worker; a worker
  whose parent has died exits by itself.
"""
from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time
import weakref
from dataclasses import dataclass
from multiprocessing.connection import wait as wait_for_any

import numpy as np
import torch
import torch.multiprocessing as mp

from meld_policy.actor import Actor
from meld_policy.config import ActorConfig, ModelConfig, config_from_dict, config_to_dict
from meld_policy.filter import BeliefFilter
from meld_policy.model import LatentModel

from .collect import TrialJob, run_trial

log = logging.getLogger(__name__)


class WorkerError(RuntimeError):
    """Collection cannot go on (a worker keeps dying or raised); the message names the cause."""


@dataclass
class _Layout:
    """Where each tensor of the model's and actor's state dicts lies in a flat weights slot."""

    entries: list[tuple[str, str, tuple[int, ...], int, int]]  # (module, name, shape, offset, numel)
    size: int

    @classmethod
    def of(cls, model: torch.nn.Module, actor: torch.nn.Module) -> "_Layout":
        entries, offset = [], 0
        for mod_name, mod in (("model", model), ("actor", actor)):
            for name, t in mod.state_dict().items():
                entries.append((mod_name, name, tuple(t.shape), offset, t.numel()))
                offset += t.numel()
        return cls(entries, offset)

    def flatten(self, model, actor) -> torch.Tensor:
        states = {"model": model.state_dict(), "actor": actor.state_dict()}
        return torch.cat([states[m][n].detach().reshape(-1).float().cpu() for m, n, *_ in self.entries])

    def load(self, flat: torch.Tensor, model, actor) -> None:
        states = {"model": model.state_dict(), "actor": actor.state_dict()}
        with torch.no_grad():
            for m, n, shape, off, numel in self.entries:
                states[m][n].copy_(flat[off:off + numel].view(shape))


def _build_networks(model_cfg: dict, actor_cfg: dict) -> tuple[LatentModel, Actor]:
    """Networks of the given shapes; their initial weights are overwritten, so the caller's RNG is left alone
    (a pool started after a resume must not move the learner's restored random streams)."""
    mcfg = config_from_dict(ModelConfig, model_cfg)
    acfg = config_from_dict(ActorConfig, actor_cfg)
    with torch.random.fork_rng(devices=[]):
        return LatentModel(mcfg).eval(), Actor(acfg, mcfg.feature_dim).eval()


def _worker_main(index: int, env_id: str, model_cfg: dict, actor_cfg: dict, episodes_per_trial: int,
                 slots: torch.Tensor, slot_versions: torch.Tensor, jobs, result_conn, parent_pid: int) -> None:
    """A worker: build env and networks once, then run jobs until told to stop or the parent is gone.

    Results go out through a sender thread, so the next trial starts while the learner has not yet
    read a big one (a send blocks until the other end reads)."""
    torch.set_num_threads(1)
    outbox: queue.Queue = queue.Queue()

    def send_results() -> None:
        while True:
            try:
                result_conn.send(outbox.get())
            except OSError:
                return  # the learner is gone; the main loop notices and exits

    threading.Thread(target=send_results, name="meld-collector-sender", daemon=True).start()
    os.environ.setdefault("MUJOCO_GL", "egl")
    from .envs import make_env
    env = make_env(env_id)
    model, actor = _build_networks(model_cfg, actor_cfg)
    layout = _Layout.of(model, actor)
    filt = BeliefFilter(model)
    loaded = -1
    while True:
        try:
            job = jobs.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent_pid:
                return  # the learner is gone: nobody will read our results
            continue
        if job is None:
            return
        try:
            if job.mode == "policy" and job.version != loaded:
                slot = job.version % len(slots)
                if int(slot_versions[slot]) != job.version:
                    raise WorkerError(f"weights version {job.version} was overwritten before job {job.job_id} ran")
                layout.load(slots[slot], model, actor)
                loaded = job.version
            episodes, summary = run_trial(env, filt, actor, episodes_per_trial, job)
            outbox.put((job.job_id, index, episodes, summary, None))
        except Exception as exc:  # reported to the learner, which decides; the worker stays up
            outbox.put((job.job_id, index, None, None, f"{type(exc).__name__}: {exc}"))


class CollectorPool:
    """`workers` collection processes fed with jobs and weights by the learner; see the module docstring."""

    def __init__(self, env_id: str, model_cfg: ModelConfig, actor_cfg: ActorConfig, episodes_per_trial: int,
                 workers: int, max_restarts: int = 3):
        if workers < 1:
            raise ValueError("a CollectorPool needs at least one worker")
        self.env_id = env_id
        self._cfgs = (config_to_dict(model_cfg), config_to_dict(actor_cfg))
        self.episodes_per_trial = episodes_per_trial
        self.n = workers
        self.max_restarts = max_restarts
        self.restarts = 0
        model, actor = _build_networks(*self._cfgs)
        self.layout = _Layout.of(model, actor)
        self.slots = torch.zeros(workers + 2, self.layout.size).share_memory_()
        self.slot_versions = torch.full((workers + 2,), -1, dtype=torch.int64).share_memory_()
        self.version = -1
        self._ctx = mp.get_context("spawn")
        self.procs: list = [None] * workers
        self.job_queues: list = [None] * workers
        self.result_conns: list = [None] * workers     # the parent's read end of each worker's result pipe
        self.assigned: dict[int, TrialJob] = {}        # job id -> job, in flight
        self.owner: dict[int, int] = {}                # job id -> worker index
        self.done: dict[int, tuple] = {}               # finished, not yet consumed
        self.next_job = 0
        for i in range(workers):
            self._start(i)
        self._finalizer = weakref.finalize(self, CollectorPool._stop_all, self.procs, self.job_queues)
        atexit.register(self._finalizer)

    # ----- processes ------------------------------------------------------------------------------------
    def _start(self, i: int) -> None:
        q = self._ctx.Queue()
        reader, writer = self._ctx.Pipe(duplex=False)
        p = self._ctx.Process(target=_worker_main, name=f"meld-collector-{i}", daemon=True,
                              args=(i, self.env_id, *self._cfgs, self.episodes_per_trial, self.slots,
                                    self.slot_versions, q, writer, os.getpid()))
        p.start()
        writer.close()  # the worker holds the only write end: its death reads as EOF, never as a hang
        if self.result_conns[i] is not None:
            self.result_conns[i].close()
        self.procs[i], self.job_queues[i], self.result_conns[i] = p, q, reader

    @staticmethod
    def _stop_all(procs, job_queues, timeout: float = 10.0) -> None:
        for p, q in zip(procs, job_queues):
            if p is not None and p.is_alive():
                try:
                    q.put(None)
                except (OSError, ValueError):
                    pass
        deadline = time.monotonic() + timeout
        for p in procs:
            if p is None:
                continue
            p.join(max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.terminate()
                p.join(2.0)
            if p.is_alive():
                p.kill()
                p.join(1.0)

    def close(self) -> None:
        """Stop every worker (waits up to ~10 s, then terminates); safe to call twice."""
        self._finalizer()

    def __enter__(self) -> "CollectorPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def alive(self) -> list[bool]:
        return [p is not None and p.is_alive() for p in self.procs]

    # ----- weights and jobs -------------------------------------------------------------------------------
    def publish(self, model: torch.nn.Module, actor: torch.nn.Module) -> int:
        """Copy the learner's weights into the next slot; returns the version that jobs should name."""
        self.version += 1
        slot = self.version % len(self.slots)
        self.slot_versions[slot] = -1  # invalid while being written
        self.slots[slot].copy_(self.layout.flatten(model, actor))
        self.slot_versions[slot] = self.version
        return self.version

    def submit(self, job: TrialJob, version: int | None = None) -> int:
        """Queue a job on the least-loaded worker; returns its id."""
        job.job_id = self.next_job
        job.version = self.version if version is None else version
        self.next_job += 1
        load = [sum(1 for o in self.owner.values() if o == i) for i in range(self.n)]
        i = int(np.argmin(load))
        self.assigned[job.job_id], self.owner[job.job_id] = job, i
        self.job_queues[i].put(job)
        return job.job_id

    def in_flight(self) -> int:
        return len(self.assigned)

    def result(self, job_id: int, timeout: float = 600.0) -> tuple[list[dict], dict]:
        """Wait for one job's result (episodes, summary), restarting dead workers on the way."""
        deadline = time.monotonic() + timeout
        while job_id not in self.done:
            message = self._next_message(0.5)
            if message is None:
                self._check_workers()
                if time.monotonic() > deadline:
                    raise WorkerError(f"no result for collection job {job_id} within {timeout:.0f} s; "
                                      f"workers alive: {self.alive()}")
                continue
            jid, _, episodes, summary, error = message
            if jid not in self.assigned:
                continue  # a duplicate of a resubmitted job
            if error is not None:
                job = self.assigned[jid]
                raise WorkerError(f"collection worker {self.owner[jid]} failed on task {job.task_id} "
                                  f"(job {jid}): {error}")
            self.done[jid] = (episodes, summary)
            del self.assigned[jid], self.owner[jid]
        return self.done.pop(job_id)

    def _next_message(self, timeout: float) -> tuple | None:
        """One result from whichever worker has one, or None after `timeout` s. A pipe that reads as closed
        (its worker died, perhaps halfway through a message) is dropped; `_check_workers` replaces both."""
        conns = [c for c in self.result_conns if c is not None]
        if not conns:
            time.sleep(timeout)
            return None
        for conn in wait_for_any(conns, timeout):
            try:
                return conn.recv()
            except (EOFError, OSError):
                i = self.result_conns.index(conn)
                conn.close()
                self.result_conns[i] = None
        return None

    def _check_workers(self) -> None:
        for i, p in enumerate(self.procs):
            if p.is_alive():
                continue
            lost = sorted(j for j, o in self.owner.items() if o == i)
            self.restarts += 1
            if self.restarts > self.max_restarts:
                raise WorkerError(f"collection worker {i} died (exit code {p.exitcode}) and {self.restarts - 1} "
                                  f"restarts did not help; check the simulator on this machine (meld-sim check) "
                                  f"and its memory")
            log.warning("collection worker %d died (exit code %s); starting it again and resubmitting %d job(s)",
                        i, p.exitcode, len(lost))
            self._start(i)
            for j in lost:
                self.job_queues[i].put(self.assigned[j])
