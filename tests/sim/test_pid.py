"""The joint tracking law shared by the simulator and the PID bridge."""
import numpy as np
import pytest

from widowx_bringup.kinematics import WX200
from widowx_bringup.pid import JointVelocityPID, PIDConfig


def make(**kw):
    pid = JointVelocityPID(PIDConfig(**kw), WX200.lower, WX200.upper, WX200.velocity_limits)
    pid.reset(np.zeros(5))
    return pid


def simulate(pid, v_cmd, q0, seconds, lag=1.0):
    """A first-order servo: the joint velocity follows the command with a fraction `lag` per tick."""
    q, dq, dt = np.array(q0, float), np.zeros(5), 1.0 / pid.config.rate_hz
    for _ in range(int(seconds / dt)):
        u = pid.update(v_cmd, q)
        dq = dq + lag * (u - dq)
        q = q + dq * dt
    return q


def test_tracks_a_constant_velocity_command():
    pid = make()
    v = np.array([0.2, -0.1, 0.1, 0.0, 0.3])
    q = simulate(pid, v, np.zeros(5), 1.0)
    assert np.allclose(q, v * 1.0, atol=0.01)


def test_removes_a_constant_disturbance_with_the_integral():
    pid = make()
    q, dt = np.zeros(5), 0.01
    for _ in range(600):
        u = pid.update(np.zeros(5), q)
        q = q + (u - 0.05) * dt  # gravity-like sag of 0.05 rad/s on every joint
    assert np.allclose(q, 0.0, atol=2e-3)


def test_rejects_nan():
    pid = make()
    with pytest.raises(ValueError, match="non-finite"):
        pid.update(np.array([np.nan, 0, 0, 0, 0]), np.zeros(5))
    with pytest.raises(ValueError, match="non-finite"):
        pid.update(np.zeros(5), np.array([0, np.inf, 0, 0, 0]))


def test_output_stays_below_the_velocity_limits():
    pid = make()
    u = pid.update(np.full(5, 100.0), np.zeros(5))
    assert np.all(np.abs(u) <= WX200.velocity_limits * 0.95 + 1e-12)
    assert u[1] <= 0.95  # the wx200 shoulder's limit is 1.0 rad/s


def test_no_outward_motion_at_a_joint_limit():
    pid = make()
    q = WX200.upper.copy()
    pid.reset(q)
    u = pid.update(np.full(5, 0.5), q)
    assert np.all(u <= 0.0)
    # ... but moving back inward is allowed.
    u = pid.update(np.full(5, -0.5), q)
    assert np.all(u < 0.0)


def test_target_does_not_wind_up_when_the_joint_is_blocked():
    pid = make()
    for _ in range(500):  # joint held at 0 (contact) while commanded to move
        u = pid.update(np.full(5, 0.5), np.zeros(5))
    assert np.all(pid.target <= pid.config.max_lead + 1e-12)
    assert np.all(np.abs(pid.integral) <= pid.config.integral_limit + 1e-12)
    assert np.all(np.abs(u) <= WX200.velocity_limits)


def test_config_is_checked():
    with pytest.raises(ValueError, match="rate_hz"):
        PIDConfig(rate_hz=1.0)
    with pytest.raises(ValueError, match="kp"):
        PIDConfig(kp=-1.0)
