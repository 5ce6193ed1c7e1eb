"""A scripted (not learned) inserter: proof that every task is solvable in the simulator.

It reads the true rig pose and goal from the simulator, which a policy never sees, plans plug
poses above and inside a port with the arm's analytic IK, and commands joint velocities toward
them. `meld-sim check` runs it on every task, into the goal port and into a wrong one. `PortSearch`
strings its insertions together into a search of the ports, and `WrongPortRescue` takes a policy's episode over
at a wrong port: meta-training data that leaves wrong ports.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..kinematics import downward_ik
from .env import WidowXInsertEnv


@dataclass
class ScriptedConfig:
    hover_height: float = 0.02
    """Height of the plug tip above the port opening before descending, m."""
    align_tolerance: float = 0.0015
    """Lateral error of the tip under which the descent starts, m."""
    push_depth: float = 0.002
    """Target the tip this far beyond the seat, so the plug is pressed home, m."""
    gain: float = 0.8
    """Fraction of the joint error closed per control step."""
    settled_speed: float = 0.05
    """The descent starts only once every joint is slower than this, rad/s."""
    descent_per_step: float = 0.008
    """Largest step of the descent target below the current tip, m."""


class ScriptedInserter:
    """Joint-velocity commands that bring the plug into `port` (default: the goal port)."""

    def __init__(self, env: WidowXInsertEnv, port: int | None = None, config: ScriptedConfig | None = None):
        self.env = env
        self.port = port
        self.config = config or ScriptedConfig()
        self.phase = "hover"

    def reset(self) -> None:
        self.phase = "hover"

    def go_to(self, port: int) -> None:
        """Leave the port the plug is in (straight up) and insert into `port`."""
        self.port = port
        self.phase = "lift"

    def _targets(self) -> tuple[np.ndarray, np.ndarray, float]:
        sim = self.env.sim
        port = sim.goal_port if self.port is None else self.port
        translation, rotation = sim.rig_pose()
        goal_tip, _ = sim.router.insertion_pose(port, translation, rotation)
        top = goal_tip + np.array([0.0, 0.0, sim.router.seat_depth])
        hover = top + np.array([0.0, 0.0, self.config.hover_height])
        seat = goal_tip - np.array([0.0, 0.0, self.config.push_depth])
        return hover, seat, math.pi / 2 + rotation

    def act(self) -> np.ndarray:
        sim = self.env.sim
        hover, seat, yaw = self._targets()
        tip, _ = sim.plug_pose()
        settled = np.max(np.abs(sim.joint_velocities())) < self.config.settled_speed
        if self.phase == "hover" and settled and np.linalg.norm((tip - hover)[:2]) < self.config.align_tolerance \
                and abs(tip[2] - hover[2]) < 0.004:
            self.phase = "insert"
        if self.phase == "lift" and tip[2] > hover[2] - 0.004:
            self.phase = "hover"
        if self.phase == "hover":
            target = hover
        elif self.phase == "lift":  # straight up out of the port it sits in, before moving sideways
            target = tip.copy()
            target[2] = min(hover[2], tip[2] + self.config.descent_per_step)
        else:  # straight down, a few millimetres per step, so the tip stays over the opening
            target = seat.copy()
            target[2] = max(seat[2], tip[2] - self.config.descent_per_step)
        q_target = downward_ik(sim.arm, target, yaw, sim.config.plug.tip_offset)
        q = sim.joint_positions()
        error = q_target - q
        error[4] = math.remainder(error[4], 2 * math.pi)
        v = self.config.gain * error / self.env.config.control_period
        return np.clip(v, self.env.action_space.low, self.env.action_space.high).astype(np.float32)


class PortSearch:
    """A scripted search: insert into the router's ports in a random order until the goal port is met,
    then stay there; each visit dwells a few steps after seating, then the plug leaves straight up.

    Meta-training trials of this kind show the latent model (and the off-policy critic) what the
    learned policy rarely does: a plug that leaves a wrong port and finds the reward higher in
    another (`train.pretrain_search_episodes`, docs/meld.md, "State rung, fourteenth run"). It reads the
    goal port from the simulator only to know when to stop. With `known=True` it goes straight to the
    goal, as a second episode of a trial that has found it.
    """

    def __init__(self, env: WidowXInsertEnv, rng: np.random.Generator, dwell: tuple[int, int] = (1, 4),
                 known: bool = False):
        sim = env.sim
        goal = sim.goal_port
        order = [goal] if known else [int(p) for p in rng.permutation(sim.router.num_ports)]
        self.order = order[:order.index(goal) + 1]
        self.env, self.rng, self.dwell_range = env, rng, dwell
        self.inserter = ScriptedInserter(env, port=self.order[0])
        self.visit, self.dwell = 0, int(rng.integers(dwell[0], dwell[1] + 1))

    def act(self) -> np.ndarray:
        port = self.order[self.visit]
        if self.env.sim.score().seated_port == port and self.visit + 1 < len(self.order):
            self.dwell -= 1
            if self.dwell < 0:
                self.visit += 1
                self.dwell = int(self.rng.integers(self.dwell_range[0], self.dwell_range[1] + 1))
                self.inserter.go_to(self.order[self.visit])
        return self.inserter.act()


class WrongPortRescue:
    """Takes an episode over from the learned policy once its plug has sat a few steps in a wrong port:
    lifts it out and inserts it into the goal port, for the rest of the episode.

    Meta-training trials of this kind (`train.rescue_trials`) start where the policy's own do and show
    the critic what a search from scratch does not: the policy's state at a wrong port, and that leaving
    it for another port pays (docs/meld.md, "State rung, sixteenth run"). It reads the goal port from the
    simulator, as `PortSearch` does.
    """

    def __init__(self, env: WidowXInsertEnv, rng: np.random.Generator, dwell: tuple[int, int] = (1, 4)):
        self.env, self.dwell = env, int(rng.integers(dwell[0], dwell[1] + 1))
        self.inserter: ScriptedInserter | None = None

    @property
    def took_over(self) -> bool:
        return self.inserter is not None

    def act(self, info: dict) -> np.ndarray | None:
        """The scripted action once the rescue has begun, else None (the policy acts). `info`: the last step's."""
        if self.inserter is None and info.get("seated_port", -1) >= 0 and not info.get("success", False):
            self.dwell -= 1
            if self.dwell < 0:
                self.inserter = ScriptedInserter(self.env)  # port None: the goal port
                self.inserter.go_to(self.env.sim.goal_port)
        return None if self.inserter is None else self.inserter.act()


def run_scripted_episode(env: WidowXInsertEnv, task: int, port: int | None = None, seed: int = 0,
                         frames: list | None = None) -> dict:
    """One episode of the scripted inserter; returns what happened, step by step."""
    obs, info = env.reset(seed=seed, options={"task": task})
    agent = ScriptedInserter(env, port=port)
    shaped, sparse, seated = [info["shaped_reward"]], [info["sparse_reward"]], []
    if frames is not None:
        frames.append((env.sim.render_video_frame(), obs, info))
    for _ in range(40):
        obs, _, _, _, info = env.step(agent.act())
        shaped.append(info["shaped_reward"])
        sparse.append(info["sparse_reward"])
        seated.append(info["seated_port"])
        if frames is not None:
            frames.append((env.sim.render_video_frame(), obs, info))
    return {"shaped": shaped, "sparse": sparse, "seated": seated, "final": info}
