"""Collection workers: they start, collect exactly what the trainer would, run with the weights a job
names, survive a worker's death without changing a trial, and leave nothing running."""
import logging
import os
import signal
import subprocess
import sys
import time

import numpy as np
import psutil
import pytest
import torch

from meld_trainer.collect import TrialJob, run_trial
from meld_trainer.config import build_config
from meld_trainer.meta_train import MetaTrainer
from meld_trainer.pool import CollectorPool, WorkerError

torch.set_num_threads(1)


@pytest.fixture()
def trainer(tmp_path):
    cfg = build_config("smoke", ["train.seed=5", "train.eval_every=0"])
    return MetaTrainer(cfg, "PointGoalSparse-v0", tmp_path, tensorboard=False)


def same_trial(a, b):
    (eps_a, sum_a), (eps_b, sum_b) = a, b
    assert len(eps_a) == len(eps_b) == 2  # sparse env: 2-episode trials
    for ea, eb in zip(eps_a, eps_b):
        for k in ea:
            np.testing.assert_allclose(ea[k], eb[k], rtol=1e-5, atol=1e-6, err_msg=k)
    assert sum_a["success"] == sum_b["success"]


def pool_for(tr, workers=2, **kw):
    return CollectorPool(tr.env_id, tr.cfg.model, tr.cfg.actor, tr.episodes_per_trial, workers, **kw)


def test_workers_collect_what_the_trainer_collects_with_the_weights_a_job_names(trainer):
    jobs = [TrialJob(task_id=t, mode=m, seed=100 + t) for t, m in ((0, "random"), (3, "policy"), (7, "policy"))]
    with pool_for(trainer) as pool:
        assert all(pool.alive())
        v0 = pool.publish(trainer.model, trainer.actor)
        here = [run_trial(trainer.env, trainer.filter, trainer.actor, 2, j) for j in jobs]
        ids = [pool.submit(j, v0) for j in jobs]
        for i, h in zip(ids, here):
            same_trial(pool.result(i), h)
        # New weights: a job naming the new version acts differently; one naming the old version does not.
        with torch.no_grad():
            for p in trainer.actor.parameters():
                p.add_(0.5 * torch.randn_like(p))
        v1 = pool.publish(trainer.model, trainer.actor)
        new_here = run_trial(trainer.env, trainer.filter, trainer.actor, 2, jobs[1])
        same_trial(pool.result(pool.submit(jobs[1], v1)), new_here)
        same_trial(pool.result(pool.submit(jobs[1], v0)), here[1])
        assert not np.allclose(new_here[0][0]["actions"], here[1][0][0]["actions"])
        pids = [p.pid for p in pool.procs]
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids)


def test_a_dead_worker_is_replaced_and_its_trial_is_the_same(trainer, caplog):
    job = TrialJob(task_id=2, mode="policy", seed=11)
    here = run_trial(trainer.env, trainer.filter, trainer.actor, 2, job)
    with pool_for(trainer, workers=1) as pool:
        v = pool.publish(trainer.model, trainer.actor)
        pool.result(pool.submit(TrialJob(task_id=0, mode="random", seed=1), v))  # the worker is up
        victim = pool.procs[0].pid
        os.kill(victim, signal.SIGKILL)
        time.sleep(0.2)
        # The handler on the pool's own logger: other tests (the launch library) may reset the root's handlers.
        pool_log = logging.getLogger("meld_trainer.pool")
        pool_log.addHandler(caplog.handler)
        try:
            with caplog.at_level("WARNING", logger="meld_trainer.pool"):
                same_trial(pool.result(pool.submit(job, v)), here)
        finally:
            pool_log.removeHandler(caplog.handler)
        assert pool.restarts == 1 and pool.procs[0].pid != victim
        assert "collection worker 0 died" in caplog.text
        # A worker that keeps dying ends collection with a sentence, not a hang.
        pool.max_restarts = 1
        os.kill(pool.procs[0].pid, signal.SIGKILL)
        with pytest.raises(WorkerError, match="died .* restarts did not help"):
            pool.result(pool.submit(job, v), timeout=60)


def test_a_worker_killed_halfway_through_sending_a_result_costs_nothing_but_a_rerun(trainer):
    """A trial's result is bigger than a pipe's buffer (393 KB here; 2 MB for an image trial), so it is
    written in pieces while the learner is busy. A worker killed then must not leave a half message or a
    taken lock that stalls every later result: the learner gets the same trial from the replacement."""
    job = TrialJob(task_id=4, mode="random", seed=3)
    here = run_trial(trainer.env, trainer.filter, trainer.actor, 2, job)
    with pool_for(trainer, workers=1) as pool:
        v = pool.publish(trainer.model, trainer.actor)
        jid = pool.submit(job, v)
        assert pool.result_conns[0].poll(120), "the worker never started sending its result"
        time.sleep(0.3)  # the first 64 KB are in the pipe; the sender waits for the learner to read on
        victim = pool.procs[0].pid
        os.kill(victim, signal.SIGKILL)
        same_trial(pool.result(jid, timeout=120), here)
        assert pool.restarts == 1 and pool.procs[0].pid != victim
        same_trial(pool.result(pool.submit(job, v), timeout=120), here)


def test_workers_exit_when_the_learner_is_killed(tmp_path):
    code = f"""
import sys, time, torch
from meld_trainer.config import build_config
from meld_trainer.meta_train import MetaTrainer
from meld_trainer.pool import CollectorPool
if __name__ == "__main__":
    tr = MetaTrainer(build_config("smoke"), "PointGoal-v0", {str(tmp_path)!r}, tensorboard=False)
    pool = CollectorPool(tr.env_id, tr.cfg.model, tr.cfg.actor, 1, 2)
    print(" ".join(str(p.pid) for p in pool.procs), flush=True)
    time.sleep(600)
"""
    script = tmp_path / "learner.py"
    script.write_text(code)
    learner = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    pids = [int(x) for x in learner.stdout.readline().split()]
    assert len(pids) == 2
    learner.kill()
    learner.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(psutil.pid_exists(p) for p in pids):
        time.sleep(0.2)
    assert not any(psutil.pid_exists(p) for p in pids), "collection workers outlived their learner"


def test_a_run_with_workers_is_reproducible(tmp_path):
    def run(name):
        cfg = build_config("smoke", ["train.seed=2", "train.collect_workers=2", "train.iterations=4", "train.eval_every=2"])
        tr = MetaTrainer(cfg, "PointGoal-v0", tmp_path / name, tensorboard=False)
        tr.run(progress=False)
        return tr
    a, b = run("a"), run("b")
    assert a.counters == b.counters and a.eval_history == b.eval_history
    for (k, v), w in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(v, w), k
    assert sorted(p.name for p in (tmp_path / "a/episodes").iterdir()) == \
        sorted(p.name for p in (tmp_path / "b/episodes").iterdir())
