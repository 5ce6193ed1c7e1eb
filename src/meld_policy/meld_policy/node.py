"""The `policy` node: MELD's 3.3 Hz control loop on the robot or the sim.

Usage (the launch files and `meld-launch` start it for you):
    policy_node --ros-args -r __node:=policy -p run_dir:=runs/sim

  in   scene_camera/image_raw, wrist_camera/image_raw  sensor_msgs/Image (sensor-data QoS)
  in   reward                  geometry_msgs/Vector3Stamped  x shaped, y sparse (the reward node)
  in   policy/start            std_msgs/String   EpisodeRequest JSON (meld_policy.episode_protocol)
  in   checkpoint              std_msgs/String   newest checkpoint path (latched); loaded between
                                                 episodes, never inside one
  in/out transfer/*            episode files out, checkpoint files in, over ROS when the trainer
                                                 has its own run folder (meld_ros.transfer)
  out  joint_velocity_cmd      std_msgs/Float64MultiArray  rad/s, waist..wrist_rotate
  out  episodes                std_msgs/String   EpisodeReport JSON: the episode file, written
                                                 atomically into the run folder, or why none was
  out  policy/state            std_msgs/String   idle | running (latched)
  out  policy/loaded_checkpoint std_msgs/String  the checkpoint acted with (latched)
  out  belief/predicted_reward geometry_msgs/Vector3Stamped  x mean, y std of the belief's
                                                 predicted reward (the paper's figure 6, live)
  out  belief/marker           visualization_msgs/Marker  the same for rviz, frame `world`: a bar
                                                 beside the router, height |mean|, width 2 std,
                                                 and a text "predicted reward m +- s" above it
  out  /diagnostics            the loop's measured rate and jitter

Every tick takes the newest frame of each camera (stale or malformed frames, and non-finite
rewards, are dropped with a warning: the arm holds still and the tick is not recorded), resizes each to 64x64, joins them to
64x128, takes the newest reward, steps the belief filter and sends the action. The node runs on
a single-threaded executor: with rclpy 7.1's multi-threaded executor, incoming 640x480 frames
delayed the 3.3 Hz timer by up to 180 ms (benchmarks/ros_latency.py), single-threaded by 7 ms.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from builtin_interfaces.msg import Duration
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Vector3Stamped
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Float64MultiArray, String
from visualization_msgs.msg import Marker

from meld_ros.images import image_to_rgb, join_cameras, stamp_to_ns, to_policy_frame
from meld_ros.loop_monitor import LoopMonitor, diagnostics_message
from meld_ros.node_main import run_node
from meld_ros.params import declare_config
from meld_ros.qos import COMMAND, EVENTS, LATCHED, SENSOR, STATE
from meld_ros.transfer import PolicyLink, TransferConfig

from .checkpoint import Policy, camera_policy_problem, load_policy
from .episode_io import write_episode
from .episode_protocol import EpisodeReport, EpisodeRequest, ProtocolError
from .episode_runner import EpisodeRunner
from .validation import reward_problem

ACTION_DIM = 5

BELIEF_BAR_BASE = (0.30, -0.12, 0.0)
"""Foot of the predicted-reward bar in `world` (the arm's base frame, x forward, z up): on the
table 12 cm to the right of the router's centre, clear of the arm and the rig's 2 cm of travel."""
BELIEF_BAR_SCALE = 0.2
"""Metres of bar per unit of reward: a shaped reward of -1 (1 m + 1 rad from the goal) is 20 cm."""
BELIEF_MARKER_LIFETIME = Duration(sec=2)
"""About six ticks: rviz drops the bar soon after the loop stops predicting (between episodes)."""


def belief_markers(mean: float, std: float, stamp) -> tuple[Marker, Marker]:
    """The belief's predicted reward for rviz: a cylinder whose height is |mean| and whose width is
    2 std (both in BELIEF_BAR_SCALE metres per unit; orange below zero, blue at or above), and a
    text above it. Two small messages per tick, nothing computed but the numbers."""
    bar, text = Marker(), Marker()
    height = max(abs(mean) * BELIEF_BAR_SCALE, 1e-3)
    for m in (bar, text):
        m.header.frame_id, m.header.stamp = "world", stamp
        m.ns, m.action, m.lifetime = "belief", Marker.ADD, BELIEF_MARKER_LIFETIME
        m.pose.position.x, m.pose.position.y = BELIEF_BAR_BASE[0], BELIEF_BAR_BASE[1]
        m.pose.orientation.w = 1.0
        m.color.a = 0.9
    bar.id, bar.type = 0, Marker.CYLINDER
    bar.pose.position.z = BELIEF_BAR_BASE[2] + height / 2
    bar.scale.x = bar.scale.y = max(2.0 * std * BELIEF_BAR_SCALE, 0.005)
    bar.scale.z = height
    bar.color.r, bar.color.g, bar.color.b = (1.0, 0.5, 0.1) if mean < 0 else (0.2, 0.5, 1.0)
    text.id, text.type = 1, Marker.TEXT_VIEW_FACING
    text.pose.position.z = BELIEF_BAR_BASE[2] + height + 0.03
    text.scale.z = 0.02  # text height, m
    text.color.r = text.color.g = text.color.b = 1.0
    text.text = f"predicted reward {mean:+.3f} +- {std:.3f}"
    return bar, text


@dataclass
class PolicyNodeConfig:
    """Parameters of the policy node."""

    run_dir: str = "runs/sim"
    """Run folder: episode files go to <run_dir>/<out_dir>/, checkpoints come from the trainer."""
    control_rate_hz: float = 3.3
    """The control loop's rate (the paper's 3.3 Hz)."""
    image_size: int = 64
    """Side of each camera's image in the observation, px."""
    max_frame_age: float = 0.5
    """Frames older than this are stale: the tick is skipped with the arm held, s."""
    max_reward_age: float = 0.5
    """A reward older than this is stale, s."""
    abort_after: float = 5.0
    """An episode whose inputs stay stale this long is abandoned (and reported), s."""
    max_joint_velocity: tuple[float, ...] = (0.6, 0.6, 0.6, 0.6, 0.8)
    """Action bounds, rad/s, of random episodes (policy episodes use the checkpoint's)."""
    particles: int = 4
    """Belief samples filtered in parallel; their spread gives the predicted reward's std."""
    device: str = "cpu"
    """Torch device for inference."""
    seed: int = 0
    """Seed of random-policy actions."""

    def __post_init__(self) -> None:
        if not 0.1 <= self.control_rate_hz <= 50.0:
            raise ValueError(f"control_rate_hz={self.control_rate_hz}: the paper runs at 3.3 Hz")
        if len(self.max_joint_velocity) != ACTION_DIM or min(self.max_joint_velocity) <= 0:
            raise ValueError(f"max_joint_velocity needs {ACTION_DIM} positive values")
        if self.particles < 1:
            raise ValueError("particles must be >= 1")


class PolicyNode(Node):
    def __init__(self) -> None:
        super().__init__("policy")
        self.config = cfg = declare_config(self, PolicyNodeConfig)
        self.run_dir = Path(cfg.run_dir)
        self.rng = np.random.default_rng(cfg.seed)
        self.policy: Policy | None = None
        self.policy_path = ""
        self.pending_checkpoint = ""
        self.runner: EpisodeRunner | None = None
        self.carried = None  # (trial_index, part, belief) of the last complete policy episode
        self._frames: dict[str, Image | None] = {"scene": None, "wrist": None}
        self._reward: Vector3Stamped | None = None
        self._stale_since: float | None = None

        self.cmd_pub = self.create_publisher(Float64MultiArray, "joint_velocity_cmd", COMMAND)
        self.episode_pub = self.create_publisher(String, "episodes", EVENTS)
        self.state_pub = self.create_publisher(String, "policy/state", LATCHED)
        self.loaded_pub = self.create_publisher(String, "policy/loaded_checkpoint", LATCHED)
        self.pred_pub = self.create_publisher(Vector3Stamped, "belief/predicted_reward", STATE)
        self.marker_pub = self.create_publisher(Marker, "belief/marker", STATE)
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_subscription(Image, "scene_camera/image_raw", lambda m: self._on_frame("scene", m), SENSOR)
        self.create_subscription(Image, "wrist_camera/image_raw", lambda m: self._on_frame("wrist", m), SENSOR)
        self.create_subscription(Vector3Stamped, "reward", self._on_reward, STATE)
        self.create_subscription(String, "policy/start", self._on_start, COMMAND)
        self.create_subscription(String, "checkpoint", self._on_checkpoint, LATCHED)
        self.link = PolicyLink(self, self.run_dir, declare_config(self, TransferConfig, prefix="transfer."),
                               on_checkpoint=lambda path: self._on_checkpoint(String(data=path)))
        self.pending_checkpoint = self.link.newest_received()  # loaded before the first episode
        self.loop = LoopMonitor("policy: control loop", cfg.control_rate_hz)
        self.create_timer(1.0 / cfg.control_rate_hz, self._on_tick)
        self.create_timer(1.0, lambda: self.diag_pub.publish(diagnostics_message(self, [self.loop.status("policy")])))
        self._set_state("idle")
        self.get_logger().info(f"control loop at {cfg.control_rate_hz} Hz; run folder {self.run_dir.resolve()}; "
                               "waiting for policy/start")

    # --- inputs -----------------------------------------------------------------------------
    def _on_frame(self, camera: str, msg: Image) -> None:
        self._frames[camera] = msg

    def _on_reward(self, msg: Vector3Stamped) -> None:
        self._reward = msg

    def _on_checkpoint(self, msg: String) -> None:
        local = self.link.local_checkpoint(msg.data)
        if local is None:
            if msg.data:
                self.get_logger().info(f"checkpoint {msg.data} is not in this run folder yet: loaded when its "
                                       "transfer arrives")
            return
        self.pending_checkpoint = local
        if self.runner is None:
            self._load_pending()

    def _load_pending(self) -> None:
        path, self.pending_checkpoint = self.pending_checkpoint, ""
        if not path or path == self.policy_path:
            return
        try:
            policy = load_policy(path, device=self.config.device)
        except Exception as exc:  # any file on the topic: the node keeps acting with what it has
            self.get_logger().error(f"checkpoint {path} not loaded ({exc}); keeping "
                                    f"{self.policy_path or 'no checkpoint'}")
            return
        problem = camera_policy_problem(asdict(policy.model_config), policy.env_id, path)
        if problem:
            self.get_logger().error(f"checkpoint {path} not loaded ({problem}); keeping "
                                    f"{self.policy_path or 'no checkpoint'}")
            return
        if policy.actor.action_dim != ACTION_DIM:
            self.get_logger().error(f"checkpoint {path} acts in {policy.actor.action_dim} dimensions, the arm in "
                                    f"{ACTION_DIM}: trained on {policy.env_id!r}? not loaded")
            return
        for warning in policy.warnings:
            self.get_logger().warn(warning)
        self.policy, self.policy_path = policy, path
        self.loaded_pub.publish(String(data=path))
        self.get_logger().info(f"loaded checkpoint {path}")

    def _on_start(self, msg: String) -> None:
        try:
            request = EpisodeRequest.from_json(msg.data)
        except ProtocolError as exc:
            self.get_logger().error(f"policy/start ignored: {exc}")
            return
        if self.runner is not None:
            self._report(request, aborted=f"busy with episode {self.runner.request.episode_index}")
            return
        self._load_pending()
        carried = None
        if request.part > 1 and self.carried and self.carried[0] == request.trial_index \
                and self.carried[1] == request.part - 1:
            carried = self.carried[2]
        high = (self.policy.actor.action_scale.cpu().numpy() if self.policy is not None and request.mode == "policy"
                else np.asarray(self.config.max_joint_velocity, np.float32))
        try:
            self.runner = EpisodeRunner(request, self.policy, high, self.rng, carried, self.config.particles)
        except ValueError as exc:
            self._report(request, aborted=str(exc))
            return
        self._stale_since = None
        self._set_state("running")
        self.get_logger().info(f"episode {request.episode_index}: task {request.task_id}, trial {request.trial_index} "
                               f"part {request.part}/{request.num_parts}, {request.steps} steps, {request.mode}"
                               f"{' (deterministic)' if request.deterministic else ''}")

    # --- the loop ---------------------------------------------------------------------------
    def _inputs(self) -> tuple[np.ndarray, float, float] | str:
        """The observation and rewards for this tick, or why there are none."""
        now_ns = self.get_clock().now().nanoseconds
        frames = []
        for camera in ("scene", "wrist"):
            msg = self._frames[camera]
            if msg is None:
                return f"no {camera} camera frame yet (is {camera}_camera/image_raw published?)"
            age = (now_ns - stamp_to_ns(msg.header.stamp)) / 1e9
            if age > self.config.max_frame_age:
                return f"{camera} camera frame is {age:.2f} s old (limit {self.config.max_frame_age} s)"
            try:
                frames.append(to_policy_frame(image_to_rgb(msg), self.config.image_size))
            except ValueError as exc:
                self._frames[camera] = None
                return f"{camera} camera frame dropped ({camera}_camera/image_raw; check the camera node): {exc}"
        if self._reward is None:
            return "no reward yet (is the reward node running?)"
        age = (now_ns - stamp_to_ns(self._reward.header.stamp)) / 1e9
        if age > self.config.max_reward_age:
            return f"reward is {age:.2f} s old (limit {self.config.max_reward_age} s)"
        shaped, sparse = float(self._reward.vector.x), float(self._reward.vector.y)
        problem = reward_problem(shaped, sparse)
        if problem:  # dropped like a malformed frame: never recorded, never filtered
            self._reward = None
            return f"reward dropped: {problem} on the reward topic (check the reward node)"
        return join_cameras(*frames), shaped, sparse

    def _on_tick(self) -> None:
        self.loop.tick()
        runner = self.runner
        if runner is None:
            return
        inputs = self._inputs()
        if isinstance(inputs, str):
            self._hold()
            now = time.monotonic()
            self._stale_since = self._stale_since or now
            self.get_logger().warn(f"tick skipped, arm held: {inputs}", throttle_duration_sec=2.0)
            if now - self._stale_since > self.config.abort_after:
                self._abort(f"inputs stale for {self.config.abort_after:.0f} s: {inputs}")
            return
        self._stale_since = None
        try:
            action = runner.tick(*inputs)
        except FloatingPointError as exc:
            self._abort(str(exc))
            return
        if runner.predicted is not None:
            msg = Vector3Stamped()
            msg.header.stamp = self.get_clock().now().to_msg()
            msg.vector.x, msg.vector.y = runner.predicted
            self.pred_pub.publish(msg)
            for marker in belief_markers(*runner.predicted, msg.header.stamp):
                self.marker_pub.publish(marker)
        if action is not None:
            self.cmd_pub.publish(Float64MultiArray(data=[float(a) for a in action]))
            return
        self._hold()
        self._finish(runner)

    def _finish(self, runner: EpisodeRunner) -> None:
        r = runner.request
        ep = runner.episode()
        try:
            path = write_episode(self.run_dir / r.out_dir, ep, episode_index=r.episode_index, task_id=r.task_id,
                                 trial_index=r.trial_index, part=r.part, num_parts=r.num_parts)
        except (ValueError, OSError) as exc:  # malformed data never reaches a file; a full disk is named
            self._abort(f"episode file not written to {self.run_dir / r.out_dir}: {exc}")
            return
        self.link.send_episode(path)  # queued (persisted) before it is announced
        self.carried = (r.trial_index, r.part, runner.belief) if r.mode == "policy" else None
        self.runner = None
        success = bool(ep["success"][-1])
        self._report(r, path=str(path), success=success, shaped_return=float(ep["shaped_rewards"].sum()))
        self._set_state("idle")
        self.get_logger().info(f"episode {r.episode_index} written: {path.name} "
                               f"({'success' if success else 'no success'}, shaped return {ep['shaped_rewards'].sum():.2f})")
        if self.pending_checkpoint:
            self._load_pending()

    def _abort(self, why: str) -> None:
        runner, self.runner = self.runner, None
        self._hold()
        self.carried = None
        self.get_logger().error(f"episode {runner.request.episode_index} abandoned: {why}")
        self._report(runner.request, aborted=why)
        self._set_state("idle")

    def _report(self, r: EpisodeRequest, **kw) -> None:
        report = EpisodeReport(r.episode_index, r.task_id, r.trial_index, r.part,
                               checkpoint=self.policy_path if r.mode == "policy" else "", **kw)
        self.episode_pub.publish(String(data=report.to_json()))

    def _hold(self) -> None:
        self.cmd_pub.publish(Float64MultiArray(data=[0.0] * ACTION_DIM))

    def _set_state(self, state: str) -> None:
        self.state_pub.publish(String(data=state))

    def on_shutdown(self) -> None:
        self._hold()
        self.link.close()
        if self.runner is not None:
            self.get_logger().warn(f"stopped in the middle of episode {self.runner.request.episode_index}: its "
                                   f"{self.runner.t} frames are discarded (an episode is written whole or not at all)")
            self._report(self.runner.request, aborted="policy node stopped")


def main(args: list[str] | None = None) -> int:
    return run_node(PolicyNode, args, threads=1)


if __name__ == "__main__":
    raise SystemExit(main())
