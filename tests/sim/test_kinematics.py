"""Forward kinematics of the MJCF against an independent computation from the published numbers."""
import math

import numpy as np
import pytest

from widowx_bringup.kinematics import WX200, WX250, downward_ik, forward
from widowx_bringup.sim.core import SimConfig, WidowXSim

# The Interbotix wx200 description (shared/WIDOWX.md), typed in again here on purpose: the model
# is generated from widowx_bringup.kinematics, so comparing against that table would prove nothing.
WX200_TABLE = [  # origin in parent, axis
    ((0, 0, 0.072), "z"),
    ((0, 0, 0.03865), "y"),
    ((0.05, 0, 0.2), "y"),
    ((0.2, 0, 0), "y"),
    ((0.065, 0, 0), "x"),
]
EE_CHAIN = [0.043, 0.023, 0.027575]  # gripper link -> ee arm -> fingers -> ee gripper link


def homogeneous(origin, axis, angle):
    c, s = math.cos(angle), math.sin(angle)
    R = {"x": [[1, 0, 0], [0, c, -s], [0, s, c]],
         "y": [[c, 0, s], [0, 1, 0], [-s, 0, c]],
         "z": [[c, -s, 0], [s, c, 0], [0, 0, 1]]}[axis]
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = origin
    return T


def reference_ee(q):
    T = np.eye(4)
    for (origin, axis), angle in zip(WX200_TABLE, q):
        T = T @ homogeneous(origin, axis, angle)
    for d in EE_CHAIN:
        T = T @ homogeneous((d, 0, 0), "x", 0.0)
    return T[:3, 3], T[:3, :3]


CONFIGS = [
    np.zeros(5),
    np.array([0.5, -0.3, 0.4, 0.2, 1.0]),
    np.array([-1.2, 0.8, -0.9, 1.1, -2.0]),
    np.array([2.5, 1.5, 1.2, -1.5, 0.3]),
    np.array([0.1, -1.0, -1.5, 2.0, 3.0]),
]


@pytest.fixture(scope="module")
def sim():
    s = WidowXSim(SimConfig(cameras=False))
    yield s
    s.close()


def test_home_pose_matches_published_numbers():
    p, R = reference_ee(np.zeros(5))
    assert p == pytest.approx([0.408575, 0.0, 0.31065], abs=1e-9)
    p200, _ = forward(WX200, np.zeros(5))
    p250, _ = forward(WX250, np.zeros(5))
    assert p200 == pytest.approx([0.408575, 0.0, 0.31065], abs=1e-9)
    assert p250 == pytest.approx([0.458325, 0.0, 0.36065], abs=1e-9)


@pytest.mark.parametrize("q", CONFIGS, ids=[f"q{i}" for i in range(len(CONFIGS))])
def test_mjcf_forward_kinematics_matches_reference(sim, q):
    sim.reset_arm(q)
    p_mj, R_mj = sim.ee_pose()
    p_ref, R_ref = reference_ee(q)
    assert np.allclose(p_mj, p_ref, atol=1e-6), (p_mj, p_ref)
    assert np.allclose(R_mj, R_ref, atol=1e-6)
    p_k, R_k = forward(WX200, q)
    assert np.allclose(p_k, p_ref, atol=1e-9) and np.allclose(R_k, R_ref, atol=1e-9)


def test_plug_tip_in_the_model_matches_forward_kinematics(sim):
    q = CONFIGS[1]
    sim.reset_arm(q)
    tip, _ = sim.plug_pose()
    expected, _ = forward(WX200, q, tool_offset=sim.config.plug.tip_offset)
    assert np.allclose(tip, expected, atol=1e-6)


@pytest.mark.parametrize("tip,yaw", [((0.30, 0.02, 0.03), 1.7), ((0.25, -0.08, 0.12), 1.2), ((0.35, 0.05, 0.05), 2.0)])
def test_downward_ik_reaches_the_point_pointing_down(tip, yaw):
    q = downward_ik(WX200, np.array(tip), yaw, 0.024)
    p, R = forward(WX200, q, tool_offset=0.024)
    assert np.allclose(p, tip, atol=1e-9)
    assert np.allclose(R[:, 0], [0, 0, -1], atol=1e-9)  # plug axis straight down
    assert math.atan2(R[1, 1], R[0, 1]) == pytest.approx(yaw, abs=1e-9)


def test_ik_out_of_reach_is_a_clear_error():
    with pytest.raises(ValueError, match="out of reach"):
        downward_ik(WX200, np.array([0.9, 0.0, 0.0]), 0.0, 0.024)
