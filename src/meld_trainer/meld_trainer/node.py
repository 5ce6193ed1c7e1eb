"""The `trainer` node: MELD's meta-training (Algorithm 1) over ROS.

Usage (the launch files and `meld-launch` start it for you):
    trainer_node --ros-args -r __node:=trainer -p run_dir:=runs/sim -p config:=paper

For every trial it picks a task, publishes it on `task` (latched: the reward node and the sim
need the goal port), moves the reset rig (`rig/goto_task`, waits for `rig/arrived` with the
measured pose), homes the arm (`pid_bridge/home`), asks the policy node for each episode of the
trial (`policy/start`, answered on `episodes`), ingests the episode files, trains, and writes and
announces a checkpoint (`checkpoint`, latched). Held-out tasks are evaluated every `eval_every`
iterations with deterministic actions; those episodes go to <run_dir>/eval and never into the
replay. After any restart it resumes from the newest checkpoint and every episode file in the
run folder: nothing written is lost, and episode indices continue after the largest on disk, so
nothing is duplicated. The work runs on its own thread; the executor only moves messages.

With `cells:="cell1 cell2"` one trainer feeds several cells (namespaced sims or robots): each cell
collects trials on its own thread with its own rig, arm and policy node; ingesting, training and
checkpoints are shared and serialised, and every checkpoint is announced to every cell.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from std_msgs.msg import Int32, String
from std_srvs.srv import Trigger

from meld_policy.episode_io import scan_episodes
from meld_policy.episode_protocol import EpisodeReport, EpisodeRequest, ProtocolError
from meld_ros.cell_link import CellLink
from meld_ros.node_main import run_node, stop_process
from meld_ros.params import declare_config
from meld_ros.qos import COMMAND, EVENTS, LATCHED
from meld_ros.transfer import TransferConfig
from meld_ros.transfer_store import Inbox

from .cell_ledger import CellLedger
from .config import ConfigError, build_config
from .envs import is_sparse, make_env
from .lost_trials import LostTrials
from .meta_train import wilson_interval
from .progress import Budget, Progress


class Stopping(Exception):
    """The node is shutting down: leave the work loop."""


class TrialLost(RuntimeError):
    """A trial that cannot be used (its reason names the node and the input): it is retried, up to a limit."""


class EpisodeAbandoned(TrialLost):
    """A cell's policy node gave up an episode (its reason names the input)."""


@dataclass
class TrainerNodeConfig:
    """Parameters of the trainer node."""

    run_dir: str = "runs/sim"
    """Run folder: episodes/, eval/, checkpoints/, tb/. Started again with the same folder, it resumes."""
    config: str = "paper"
    """Training config: a meld-train preset (paper, reference, smoke, point) or a YAML file."""
    overrides: str = ""
    """Space-separated section.field=value overrides, as on meld-train's command line."""
    env_id: str = "WidowXInsert-v0"
    """Task family: WidowXInsert-v0 (shaped reward, 1-episode trials) or WidowXInsertSparse-v0
    (the model reads the sparse link signal; 2-episode trials)."""
    cells: str = ""
    """Space-separated namespaces of the cells to collect from, relative to the trainer's
    (e.g. "cell1 cell2"); empty: the cell in the trainer's own namespace."""
    meta_test: bool = False
    """Meta-test (Algorithm 2) instead of training: `eval_trials` held-out trials with the newest
    checkpoint, eval_report.json in the run folder, then the node exits."""
    policy_file: str = ""
    """Meta-test only: this policy file (meld-export) or checkpoint instead of the run folder's newest
    checkpoint; its env id must be `env_id`."""
    episode_steps: int = 40
    """Actions per episode (40 at 3.3 Hz is 12 s)."""
    use_rig: bool = True
    """Move the reset rig for each task; false: only publish `task` (the sim jumps there)."""
    rig_timeout: float = 90.0
    """Deadline for the rig to confirm arrival, s."""
    home_timeout: float = 40.0
    """Deadline for the arm to reach home, s."""
    episode_margin: float = 30.0
    """An episode gets steps / 3.3 Hz plus this margin before it counts as lost, s."""
    keep_checkpoints: int = 3
    """Numbered checkpoints kept besides latest.pt."""
    trial_retries: int = 5
    """Trials in a row a cell may lose to an abandoned or unusable episode (a stale camera, NaN
    rewards) before meta-training stops; each loss is retried with a log line."""

    def __post_init__(self) -> None:
        if self.episode_steps < 1:
            raise ValueError("episode_steps must be >= 1")
        if self.keep_checkpoints < 1:
            raise ValueError("keep_checkpoints must be >= 1")
        if self.trial_retries < 0:
            raise ValueError("trial_retries must be >= 0")
        if len(set(self.cells.split())) != len(self.cells.split()):
            raise ValueError(f"cells {self.cells!r} names a cell twice")

    @property
    def cell_names(self) -> list[str]:
        return self.cells.split() or [""]


class Cell:
    """One place where trials happen: its rig, its arm (PID bridge) and its policy node."""

    def __init__(self, node: "TrainerNode", name: str):
        self.node, self.name = node, name
        self.label = name or "the cell"
        self.tag = f"{name}: " if name else ""  # log prefix, only when there are several cells
        prefix = f"{name}/" if name else ""
        group = ReentrantCallbackGroup()
        self.task_pub = node.create_publisher(Int32, f"{prefix}task", LATCHED)
        self.goto_pub = node.create_publisher(Int32, f"{prefix}rig/goto_task", COMMAND)
        self.start_pub = node.create_publisher(String, f"{prefix}policy/start", COMMAND)
        self.ckpt_pub = node.create_publisher(String, f"{prefix}checkpoint", LATCHED)
        node.create_subscription(Int32, f"{prefix}rig/arrived", lambda m: self._note(self.arrived, int(m.data)),
                                 COMMAND, callback_group=group)
        node.create_subscription(String, f"{prefix}rig/goto_failed", lambda m: self._note(self.goto_failed, m.data),
                                 COMMAND, callback_group=group)
        node.create_subscription(String, f"{prefix}episodes", self._on_episode, EVENTS, callback_group=group)
        node.create_subscription(String, f"{prefix}policy/state", self._on_policy_state, LATCHED, callback_group=group)
        self.home_client = node.create_client(Trigger, f"{prefix}pid_bridge/home", callback_group=group)
        self.rig_home_client = node.create_client(Trigger, f"{prefix}rig/home", callback_group=group)
        self.link = CellLink(node, name, node.run_dir, node.inbox, node.transfer_config,
                             on_arrival=lambda: node.notify(lambda: None), callback_group=group)
        self.arrived: list[int] = []
        self.goto_failed: list[str] = []
        self.reports: dict[int, EpisodeReport] = {}
        self.policy_state = ""

    def _note(self, items: list, value) -> None:
        self.node.notify(lambda: items.append(value))

    def _on_policy_state(self, msg: String) -> None:
        self.node.notify(lambda: setattr(self, "policy_state", msg.data))

    def _on_episode(self, msg: String) -> None:
        try:
            report = EpisodeReport.from_json(msg.data)
        except ProtocolError as exc:
            self.node.get_logger().error(f"{self.label}: unreadable report on episodes: {exc}")
            return
        self.node.notify(lambda: self.reports.__setitem__(report.episode_index, report))

    def move_rig(self, task_id: int) -> None:
        node, cfg = self.node, self.node.config
        for attempt in (1, 2):
            with node.cv:
                self.arrived.clear()
                self.goto_failed.clear()
            node.publish_when_heard(self.goto_pub, Int32(data=task_id), cfg.rig_timeout, f"{self.label}'s reset_rig node")
            try:
                outcome = node.wait(lambda: ("ok" if task_id in self.arrived else
                                             next((f for f in self.goto_failed if f.startswith(f"task {task_id}:")), None)),
                                    cfg.rig_timeout, f"{self.label}'s reset rig to confirm task {task_id}")
            except TimeoutError as exc:
                outcome = str(exc)
            if outcome == "ok":
                return
            if attempt == 1:
                node.get_logger().warn(f"{self.label} rig: {outcome}; homing the rig and trying again")
                result = node.call(self.rig_home_client, cfg.rig_timeout, f"homing {self.label}'s reset rig")
                if not result.success:
                    node.get_logger().error(f"{self.label} rig homing failed: {result.message}")
            else:
                node.get_logger().error(f"{self.label} rig: {outcome}")
        raise RuntimeError(f"{self.label}'s reset rig could not reach task {task_id}; see its reset_rig node's log")

    def run_trial(self, task_id: int, mode: str, deterministic: bool, out_dir: str) -> list[EpisodeReport]:
        """Move the rig, then for each episode of the trial: home the arm, run it on the policy node."""
        node, cfg = self.node, self.node.config
        self.task_pub.publish(Int32(data=task_id))
        if cfg.use_rig:
            self.move_rig(task_id)
        if mode == "policy":  # over ROS the newest checkpoint may still be on its way to the cell
            node.wait(self.link.checkpoint_delivered, 300.0, f"the newest checkpoint to reach {self.label} (over ROS)")
        num_parts = node.trainer.episodes_per_trial
        trial = node.claim_trial()
        reports = []
        for part in range(1, num_parts + 1):
            result = node.call(self.home_client, cfg.home_timeout, f"homing {self.label}'s arm")
            if not result.success:  # a slow or blocked arm: retried; an arm that never gets there stops the run
                raise TrialLost(f"{self.label}'s arm did not reach home (pid_bridge/home): {result.message}")
            node.wait(lambda: self.policy_state == "idle", cfg.episode_margin, f"{self.label}'s policy node to be idle")
            request = EpisodeRequest(episode_index=node.claim_episode(), task_id=task_id, trial_index=trial, part=part,
                                     num_parts=num_parts, steps=cfg.episode_steps, mode=mode,
                                     deterministic=deterministic, out_dir=out_dir,
                                     reward_input="sparse" if is_sparse(cfg.env_id) else "shaped")
            node.publish_when_heard(self.start_pub, String(data=request.to_json()), cfg.episode_margin,
                                    f"{self.label}'s policy node")
            report = node.wait(lambda: self.reports.pop(request.episode_index, None),
                               cfg.episode_steps / 3.3 + cfg.episode_margin,
                               f"episode {request.episode_index} from {self.label}'s policy node")
            if report.aborted:
                raise EpisodeAbandoned(f"episode {request.episode_index} abandoned by {self.label}'s policy node: "
                                       f"{report.aborted}")
            reports.append(self.local_report(report))
        return reports

    def local_report(self, report: EpisodeReport) -> EpisodeReport:
        """The report with the episode file's path in this trainer's run folder: the announced path
        when the cell shares the folder, else its transferred copy, waited for (meld_ros.transfer)."""
        path = self.link.local_episode(report.path)
        self.node.wait(path.is_file, self.node.config.episode_margin + 60.0,
                       f"episode file {path.name} from {self.label} (sent over ROS: is its policy node running?)")
        return dataclasses.replace(report, path=str(path))


class TrainerNode(Node):
    def __init__(self) -> None:
        super().__init__("trainer")
        self.config = cfg = declare_config(self, TrainerNodeConfig)
        try:
            self.run_config = build_config(cfg.config, cfg.overrides.split())
        except ConfigError as exc:
            raise ValueError(f"parameter config={cfg.config!r} overrides={cfg.overrides!r}: {exc}") from exc
        self.run_dir = Path(cfg.run_dir).resolve()
        self.progress_pub = self.create_publisher(String, "trainer/progress", LATCHED)
        self.transfer_config = declare_config(self, TransferConfig, prefix="transfer.")
        self.inbox = Inbox(self.run_dir)
        for name in self.inbox.removed_parts:
            self.get_logger().warn(f"removed a half-received transfer ({name}); its cell sends it again")
        self.cv = threading.Condition()
        self.learn_lock = threading.Lock()  # the replay, the networks and the counters
        self.cells = [Cell(self, name) for name in cfg.cell_names]
        self._stop = threading.Event()
        self.failed: str | None = None
        self.trainer = None
        self._workers = [threading.Thread(target=self._main, name="trainer", daemon=True)]
        self._workers[0].start()

    # --- plumbing shared by the cells -------------------------------------------------------
    def notify(self, fn) -> None:
        with self.cv:
            fn()
            self.cv.notify_all()

    def wait(self, predicate, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        logged = False
        with self.cv:
            while True:
                value = predicate()
                if value:
                    return value
                if self._stop.is_set():
                    raise Stopping()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {what} within {timeout:.0f} s")
                if not logged and timeout - left > 5.0:
                    self.get_logger().info(f"waiting for {what} (deadline {timeout:.0f} s)")
                    logged = True
                self.cv.wait(min(left, 1.0))

    def publish_when_heard(self, publisher, msg, timeout: float, listener: str) -> None:
        """Publish a one-off command only once someone listens: a command sent before discovery
        has matched the subscriber is lost (volatile QoS), and the trainer would wait for nothing."""
        deadline = time.monotonic() + timeout
        while publisher.get_subscription_count() == 0:
            if self._stop.is_set():
                raise Stopping()
            if time.monotonic() > deadline:
                raise TimeoutError(f"nobody subscribes to {publisher.topic_name} within {timeout:.0f} s: is the "
                                   f"{listener} running (in this namespace and ROS_DOMAIN_ID)?")
            self.get_logger().info(f"waiting for the {listener} to subscribe to {publisher.topic_name}",
                                   throttle_duration_sec=10.0)
            time.sleep(0.1)
        publisher.publish(msg)

    def call(self, client, timeout: float, what: str) -> Trigger.Response:
        deadline = time.monotonic() + timeout
        while not client.wait_for_service(timeout_sec=1.0):
            if self._stop.is_set():
                raise Stopping()
            if time.monotonic() > deadline:
                raise TimeoutError(f"service {client.srv_name} for {what} not available within {timeout:.0f} s")
            self.get_logger().info(f"waiting for service {client.srv_name} ({what})", throttle_duration_sec=10.0)
        future = client.call_async(Trigger.Request())
        while not future.done():
            if self._stop.is_set():
                raise Stopping()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: {client.srv_name} did not answer within {timeout:.0f} s")
            time.sleep(0.05)
        return future.result()

    def claim_episode(self) -> int:
        with self.cv:
            self._next_episode += 1
            return self._next_episode - 1

    def claim_trial(self) -> int:
        with self.cv:
            self._next_trial += 1
            return self._next_trial - 1

    # --- learning ---------------------------------------------------------------------------
    def _setup(self) -> None:
        from .meta_train import MetaTrainer  # torch: imported on the worker, the node is up already

        cfg = self.config
        # An episode still in flight from before a restart lands first, so the scan below sees it.
        for cell in self.cells:
            self.wait(lambda: cell.policy_state == "idle", cfg.episode_steps / 3.3 + cfg.episode_margin + 30.0,
                      f"{cell.label}'s policy node (idle, any episode in flight written)")
            self.wait(cell.link.drained, 120.0, f"{cell.label}'s episodes in transit to arrive")
        env = make_env(cfg.env_id, cameras=False, max_episode_steps=cfg.episode_steps)  # spaces and task ids only
        self.trainer = MetaTrainer(self.run_config, cfg.env_id, self.run_dir, env=env)
        self.cell_ledger = CellLedger(self.run_dir)
        if len(self.cells) > 1:  # each cell's tasks apart in the replay (read before the replay opens)
            self.trainer.replay.cell_of = self.cell_ledger.cell_of
        resumed = self.trainer.maybe_resume()
        for note in self.trainer.replay.skipped:
            self.get_logger().warn(f"skipped: {note}")
        metas = scan_episodes(self.run_dir / "episodes")[0] + scan_episodes(self.run_dir / "eval")[0]
        self._next_episode = max((m.episode_index for m in metas), default=-1) + 1
        self._next_trial = max((m.trial_index for m in metas), default=-1) + 1
        (self.run_dir / "config.yaml").write_text(yaml.safe_dump({"env_id": cfg.env_id, **self.run_config.to_dict()},
                                                                 sort_keys=False))
        c = self.trainer.counters
        self.get_logger().info(
            f"{'resumed' if resumed else 'new run'} in {self.run_dir}: iteration {c['iteration']}, "
            f"{self.trainer.replay.num_trials()} trials ({c['env_steps']} env steps) in replay, "
            f"next episode {self._next_episode}"
            + (f"; collecting from {', '.join(cell.name for cell in self.cells)}" if len(self.cells) > 1 else ""))
        t = self.run_config.train
        self.progress = Progress(Budget(-(-t.pretrain_episodes // self.trainer.episodes_per_trial), t.iterations,
                                        cfg.episode_steps * self.trainer.episodes_per_trial))
        self.progress.start(c["env_steps"])
        if resumed:
            self._announce(str(self.trainer.checkpoint_path))
        if cfg.use_rig:  # a rig starts locked after power-up (GRBL homing enabled): home it once, on purpose
            for cell in self.cells:
                result = self.call(cell.rig_home_client, cfg.rig_timeout, f"homing {cell.label}'s reset rig")
                if not result.success:
                    raise RuntimeError(f"{cell.label}'s reset rig did not home: {result.message}")
                self.get_logger().info(f"{cell.tag}reset rig homed")

    def _announce(self, path: str) -> None:
        for cell in self.cells:
            cell.ckpt_pub.publish(String(data=cell.link.announce_checkpoint(path)))

    def _ingest(self, cell: Cell, reports: list[EpisodeReport]) -> None:
        for r in reports:
            if len(self.cells) > 1:
                self.cell_ledger.record(r.path, cell.name)
            if not self.trainer.ingest_episode(r.path):
                raise EpisodeAbandoned(f"episode file {r.path} from {cell.label}'s policy node could not be ingested: "
                                       f"{self.trainer.replay.skipped[-1] if self.trainer.replay.skipped else 'see above'}")
        self.get_logger().info(f"{cell.tag}ingested {len(reports)} episode file(s): "
                               f"{', '.join(Path(r.path).name for r in reports)}")

    def _checkpoint(self) -> None:
        it = self.trainer.counters["iteration"]
        path = self.trainer.save_checkpoint(self.run_dir / "checkpoints" / f"ckpt_{it:06d}.pt")
        latest = self.trainer.checkpoint_path
        tmp = latest.with_name(f".{latest.name}.link")
        tmp.unlink(missing_ok=True)
        os.link(path, tmp)
        os.replace(tmp, latest)  # latest.pt always names a complete checkpoint
        numbered = sorted(latest.parent.glob("ckpt_*.pt"))
        for old in numbered[:-self.config.keep_checkpoints]:
            old.unlink(missing_ok=True)
        self._announce(str(path))
        self.get_logger().info(f"checkpoint written and announced: {path}")

    def _evaluate(self, cell: Cell) -> dict:
        t = self.run_config.train
        tasks = self.trainer.heldout_tasks
        per_task: dict[int, list[bool]] = {}
        for i in range(t.eval_trials):
            task = tasks[i % len(tasks)]
            reports = cell.run_trial(task, "policy", t.eval_deterministic, "eval")
            per_task.setdefault(task, []).append(reports[-1].success)
        n = sum(len(v) for v in per_task.values())
        k = sum(sum(v) for v in per_task.values())
        lo, hi = wilson_interval(k, n)
        with self.learn_lock:
            result = {"iteration": self.trainer.counters["iteration"], "env_steps": self.trainer.counters["env_steps"],
                      "success": k / n, "successes": k, "trials": n, "ci95": [lo, hi],
                      "per_task": {str(task): sum(v) / len(v) for task, v in per_task.items()}}
            self.trainer.eval_history.append(result)
            if self.trainer.writer is not None:
                self.trainer.writer.add_scalar("eval/heldout_success", k / n, result["env_steps"])
        self.get_logger().info(f"held-out success {100 * k / n:.0f}% ({k}/{n} trials on {cell.label}, 95% CI "
                               f"{100 * lo:.0f}-{100 * hi:.0f}%) after {result['env_steps']} env steps")
        return result

    def _progress(self, text: str, **fields) -> None:
        if len(self.cells) > 1:
            fields["cells"] = self.cell_ledger.summary()
            if fields.get("phase") in ("pretrain", "train"):
                text += " [" + ", ".join(f"{c}: {v['episodes']} episodes, {v['iterations']} iterations"
                                         for c, v in fields["cells"].items()) + "]"
        self.get_logger().info(text)
        self.progress_pub.publish(String(data=json.dumps({"message": text, **fields})))

    def _next_job(self) -> tuple[str, int] | None:
        """What a cell does next (under the learning lock): ("random"|"policy", task) or None when done."""
        t, tr = self.run_config.train, self.trainer
        if not tr.counters["pretrained"]:
            target = -(-t.pretrain_episodes // tr.episodes_per_trial)
            if tr.replay.num_trials() + self._pretrain_in_flight < target:
                self._pretrain_in_flight += 1
                return "random", tr.train_tasks[self._next_trial % len(tr.train_tasks)]
            return "wait", -1
        if tr.counters["iteration"] + self._iterations_in_flight >= t.iterations:
            return None
        self._iterations_in_flight += 1
        return "policy", tr.train_tasks[int(tr.rng.integers(len(tr.train_tasks)))]

    def _cell_loop(self, cell: Cell) -> None:
        t, tr = self.run_config.train, self.trainer
        lost = LostTrials(self.config.trial_retries, cell.label, self.run_dir / "logs")
        while not self._stop.is_set():
            with self.learn_lock:
                job = self._next_job()
            if job is None:
                return
            mode, task = job
            if mode == "wait":  # another cell collects the last pretraining trials
                self.wait(lambda: tr.counters["pretrained"], 3600.0, "the model's pretraining")
                continue
            try:
                reports = cell.run_trial(task, mode, False, "episodes")
                with self.learn_lock:
                    self._ingest(cell, reports)
            except TrialLost as exc:
                self.get_logger().warn(f"{cell.tag}{lost.lost(str(exc), task)}")
                continue
            finally:
                with self.learn_lock:
                    if mode == "random":
                        self._pretrain_in_flight -= 1
                    else:
                        self._iterations_in_flight -= 1
            lost.kept()
            evaluate = False
            with self.learn_lock:
                if mode == "random":
                    target = -(-t.pretrain_episodes // tr.episodes_per_trial)
                    self._progress(self.progress.line("pretrain", tr.counters["env_steps"], tr.replay.num_trials(),
                                                      skipped_updates=tr.skipped_updates),
                                   phase="pretrain", trials=tr.replay.num_trials(), target=target,
                                   env_steps=tr.counters["env_steps"], budget_env_steps=self.progress.budget.total_steps)
                    if tr.replay.num_trials() >= target and not tr.counters["pretrained"]:
                        tr.train(t.pretrain_model_updates, 0)
                        tr.counters["pretrained"] = 1
                        self._progress(f"model pretrained with {t.pretrain_model_updates} updates", phase="pretrained")
                        self._checkpoint()
                        self.notify(lambda: None)
                    continue
                stats = tr.train(*tr.updates_per_iter())
                tr.counters["iteration"] += 1
                it = tr.counters["iteration"]
                self.cell_ledger.iterations[cell.name] += 1
                line = self.progress.line("train", tr.counters["env_steps"], iteration=it,
                                          success=reports[-1].success, skipped_updates=tr.skipped_updates)
                self._progress(
                    f"{line} | {f'{cell.name}: ' if cell.name else ''}task {task}, shaped return "
                    f"{sum(r.shaped_return for r in reports):.2f}, model loss {stats.get('model/loss', float('nan')):.1f}",
                    phase="train", iteration=it, env_steps=tr.counters["env_steps"], success=reports[-1].success,
                    budget_env_steps=self.progress.budget.total_steps, skipped_updates=tr.skipped_updates,
                    cell=cell.name)
                if it % t.checkpoint_every == 0:
                    self._checkpoint()
                evaluate = bool(t.eval_every) and it % t.eval_every == 0
            if evaluate:
                self._evaluate(cell)

    def _main(self) -> None:
        try:
            self._setup()
            if self.config.meta_test:
                self._meta_test()
                return
            self._pretrain_in_flight = self._iterations_in_flight = 0
            errors: list[BaseException] = []

            def run(cell: Cell) -> None:
                try:
                    self._cell_loop(cell)
                except Stopping:
                    pass
                except BaseException as exc:  # one cell failing stops the run: say which and why
                    errors.append(exc)
                    self.get_logger().fatal(f"{cell.label}: {type(exc).__name__}: {exc}")
                    self._stop.set()
                    self.notify(lambda: None)

            threads = [threading.Thread(target=run, args=(cell,), name=f"collect-{cell.label}", daemon=True)
                       for cell in self.cells]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            if errors:
                raise errors[0]
            if self._stop.is_set():
                return
            with self.learn_lock:
                self._checkpoint()
            self._progress(f"meta-training finished after {self.trainer.counters['iteration']} iterations",
                           phase="done")
            stop_process()  # done: the node exits with code 0 and the runner ends the graph
        except Stopping:
            pass
        except Exception as exc:  # report once, clearly, and exit non-zero so the runner notices
            self.failed = f"{type(exc).__name__}: {exc}"
            self.get_logger().fatal(f"meta-training stopped: {self.failed}")
            stop_process()

    def _meta_test(self) -> None:
        """Algorithm 2 on the held-out tasks with the newest checkpoint; report and exit."""
        policy = Path(self.config.policy_file).expanduser() if self.config.policy_file else self.trainer.checkpoint_path
        if self.config.policy_file:
            problem = policy_file_problem(policy, self.config.env_id)
            if problem:
                raise RuntimeError(problem)
        elif not policy.is_file():
            raise RuntimeError(f"nothing to meta-test: no checkpoint in {policy.parent}; "
                               "meta-train into this run folder first, or pass policy_file:=models/NAME.pt")
        if self.config.policy_file:
            # Into this run folder first: the policy reads it there (one host) or gets it over the
            # file link like any checkpoint (two hosts); the policy loads checkpoints from its folder only.
            local = self.run_dir / "checkpoints" / f"policy_file_{policy.name}"
            local.parent.mkdir(parents=True, exist_ok=True)
            tmp = local.with_name(f".{local.name}.tmp")
            shutil.copyfile(policy, tmp)
            os.replace(tmp, local)
            self._announce(str(local))
        else:
            self._announce(str(policy.resolve()))
        result = self._evaluate(self.cells[0])
        result.update(checkpoint=str(policy.resolve()), env_id=self.config.env_id)
        (self.run_dir / "eval_report.json").write_text(json.dumps(result, indent=1))
        lo, hi = result["ci95"]
        self._progress(f"heldout success: {100 * result['success']:.0f}% ({result['successes']}/{result['trials']} "
                       f"trials, 95% CI {100 * lo:.0f}-{100 * hi:.0f}%); report in {self.run_dir / 'eval_report.json'}",
                       phase="meta_test", **{k: result[k] for k in ("success", "successes", "trials")})
        stop_process()

    def request_stop(self) -> None:
        self._stop.set()
        self.notify(lambda: None)

    def on_shutdown(self) -> None:
        self.request_stop()
        for th in self._workers:
            th.join(timeout=10.0)
        for cell in self.cells:
            cell.link.close()
        if self.trainer is not None and self.trainer.writer is not None:
            self.trainer.writer.flush()


def policy_file_problem(path: Path, env_id: str) -> str:
    """Why `path` cannot be meta-tested on `env_id` (a sentence), or "" when it can."""
    from meld_policy.checkpoint import CheckpointError, camera_policy_problem, load_raw
    if not path.is_file():
        return f"policy_file {path} does not exist; pass a file from meld-export (e.g. models/NAME.pt) or a checkpoint"
    try:
        raw = load_raw(path, map_location="cpu")
    except CheckpointError as exc:
        return f"policy_file {path}: {exc}"
    problem = camera_policy_problem(raw.get("config", {}).get("model", {}), raw.get("env_id", ""), path)
    if problem:
        return f"policy_file {problem}"
    if raw.get("env_id") != env_id:
        return (f"policy_file {path} was trained on {raw.get('env_id')}, not {env_id}; "
                f"start the graph with env_id:={raw.get('env_id')}")
    return ""


def main(args: list[str] | None = None) -> int:
    return run_node(TrainerNode, args, threads=2)


if __name__ == "__main__":
    raise SystemExit(main())
