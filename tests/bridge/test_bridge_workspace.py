"""The workspace box: the pure rule, and that its defaults admit every task of the simulator."""
import numpy as np
import pytest

from widowx_bringup.bridge.workspace import Workspace, WorkspaceConfig, box_excess, outside_axes
from widowx_bringup.kinematics import WX200
from widowx_bringup.scene import HOME_TIP, PlugGeometry, home_joint_positions
from widowx_bringup.sim.env import WidowXInsertEnv
from widowx_bringup.sim.scripted import run_scripted_episode

TIP = PlugGeometry().tip_offset
HOME = home_joint_positions(WX200)


def jacobian(q: np.ndarray, ws: Workspace, h: float = 1e-6) -> np.ndarray:
    return np.stack([(ws.tip(q + h * e) - ws.tip(q - h * e)) / (2 * h) for e in np.eye(5)], axis=1)


def velocity_for(q, ws, tip_velocity) -> np.ndarray:
    """Joint velocity that moves the tip at `tip_velocity` (m/s)."""
    return np.linalg.pinv(jacobian(q, ws)) @ np.asarray(tip_velocity, dtype=float)


def floor_box(z_floor: float) -> Workspace:
    return Workspace(WX200, WorkspaceConfig(lower=(0.0, -0.5, z_floor), upper=(0.6, 0.5, 0.6)), TIP)


def test_excess_is_the_distance_outside():
    lo, hi = np.zeros(3), np.ones(3)
    assert box_excess(np.array([0.5, 0.5, 0.5]), lo, hi) == 0.0
    assert box_excess(np.array([0.5, 0.5, -0.2]), lo, hi) == pytest.approx(0.2)
    assert box_excess(np.array([1.3, -0.4, 0.5]), lo, hi) == pytest.approx(0.5)
    assert outside_axes(np.array([1.3, 0.5, -0.1]), lo, hi) == "x 1.300 > 1.000, z -0.100 < 0.000"


def test_home_tip_is_where_the_scene_says():
    assert np.allclose(floor_box(0.0).tip(HOME), HOME_TIP, atol=1e-9)


def test_motion_through_a_wall_is_stopped_and_motion_away_passes():
    ws = floor_box(HOME_TIP[2] - 0.002)  # the floor 2 mm below the tip
    down = velocity_for(HOME, ws, [0, 0, -0.1])
    verdict = ws.check(HOME, down)
    assert verdict.any_stopped and ws.excess(HOME + verdict.velocity * ws.config.lookahead) == 0.0
    up = velocity_for(HOME, ws, [0, 0, 0.1])
    assert not ws.check(HOME, up).any_stopped and np.allclose(ws.check(HOME, up).velocity, up)


def test_the_arm_can_slide_along_a_wall():
    ws = floor_box(HOME_TIP[2] - 0.001)
    u = velocity_for(HOME, ws, [0, 0, -0.1]) + np.array([0.5, 0, 0, 0, 0])  # down into the floor, plus waist
    verdict = ws.check(HOME, u)
    assert verdict.velocity[0] == pytest.approx(0.5)  # the waist swings the tip sideways, at constant height
    assert verdict.any_stopped and ws.excess(HOME + verdict.velocity * ws.config.lookahead) == 0.0


def test_outside_the_box_only_motion_back_in_passes():
    ws = floor_box(HOME_TIP[2] + 0.01)  # the tip starts 1 cm below the floor
    assert ws.excess(HOME) == pytest.approx(0.01)
    further = ws.check(HOME, velocity_for(HOME, ws, [0, 0, -0.1]))
    assert further.any_stopped  # the joints that lower the tip; one that happens to raise it may go on
    assert ws.excess(HOME + further.velocity * ws.config.lookahead) <= ws.excess(HOME)
    back = velocity_for(HOME, ws, [0, 0, 0.1])
    assert np.allclose(ws.check(HOME, back).velocity, back)
    hold = ws.check(HOME, np.zeros(5))
    assert not hold.any_stopped


def test_disabled_box_passes_everything():
    ws = Workspace(WX200, WorkspaceConfig(enabled=False, lower=(0.0, -0.5, 0.5), upper=(0.6, 0.5, 0.6)), TIP)
    u = velocity_for(HOME, ws, [0, 0, -0.1])
    assert np.allclose(ws.check(HOME, u).velocity, u)


@pytest.mark.parametrize("bad", [dict(lower=(0.3, 0, 0), upper=(0.2, 1, 1)), dict(lower=(0, 0), upper=(1, 1)),
                                 dict(lookahead=0.0)])
def test_config_rejects_nonsense(bad):
    with pytest.raises(ValueError):
        WorkspaceConfig(**bad)


def test_default_box_keeps_the_arm_off_the_table_and_in_front():
    ws = Workspace(WX200, WorkspaceConfig(), TIP)
    lo, hi = ws.lower, ws.upper
    assert box_excess(np.array([0.30, 0.0, 0.0]), lo, hi) > 0      # tip on the table
    assert box_excess(np.array([0.05, 0.0, 0.10]), lo, hi) > 0     # over the base
    assert box_excess(np.array([0.30, 0.30, 0.10]), lo, hi) > 0    # far to the side


def test_default_box_admits_every_simulated_task():
    """The scripted inserter (true state, analytic IK) into the goal port of all 30 tasks, and into
    every port at the four most extreme rig poses: its tip never leaves the default box."""
    env = WidowXInsertEnv(cameras=False)
    ws = Workspace(env.sim.arm, WorkspaceConfig(), env.sim.config.plug.tip_offset)
    tips: list[np.ndarray] = []
    advance = env.sim.advance

    def recording_advance(*args, **kwargs):
        out = advance(*args, **kwargs)
        tips.append(env.sim.plug_pose()[0].copy())
        return out

    env.sim.advance = recording_advance
    extreme = sorted(env.tasks, key=lambda t: abs(t.translation) / 0.01 + abs(t.rotation) / 0.14)[-4:]
    runs = [(t.task_id, None) for t in env.tasks] + [(t.task_id, p) for t in extreme for p in range(4)]
    successes = 0
    for task, port in runs:
        result = run_scripted_episode(env, task, port=port)
        successes += bool(result["final"]["success"]) if port is None else 0
    tips_arr = np.array(tips)
    excess = [box_excess(p, ws.lower, ws.upper) for p in tips_arr]
    assert max(excess) == 0.0, outside_axes(tips_arr[int(np.argmax(excess))], ws.lower, ws.upper)
    assert successes == len(env.tasks)  # the runs reached the ports: the check saw the deep positions
    assert tips_arr[:, 2].min() < 0.035  # ...down inside a port
