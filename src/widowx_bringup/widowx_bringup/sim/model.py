"""The MJCF of the simulated cell, generated from the kinematic and scene tables.

Generated rather than written by hand so that the joint origins, limits and the router's ports
have one source (`kinematics.py`, `scene.py`). Only the plug, the fingers, the router and the
table collide: the task is decided there, and fewer contact pairs keep the step cheap.

Joint actuators are velocity servos (force = kv * (command - velocity), clamped to the servo's
stall torque), the model of a Dynamixel in velocity mode. The servo's own velocity loop has an
integrator that holds the arm's weight at zero command; the arm bodies' gravity compensation
(gravcomp) stands in for it, so a zero command holds still as on the real arm; the tracking law that drives them is
`widowx_bringup.pid`, run by the environment at 100 Hz like the PID bridge on the real arm.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..kinematics import ArmSpec
from ..scene import PlugGeometry, RouterGeometry

# Collision groups: the plug (and fingers) touch the router and the table; nothing else touches.
_PLUG = 'contype="2" conaffinity="1"'
_FIXTURE = 'contype="1" conaffinity="2"'

# Link masses, kg, approximated from the Interbotix wx200 URDF. The URDF's dummy links carry
# about 40 times the gripper's real inertia (shared/WIDOWX.md); they are not modelled here.
_MASSES = {"shoulder": 0.26, "upper_arm": 0.30, "forearm": 0.16, "wrist": 0.05, "gripper": 0.12}
# Stall torque of the servo at each joint, N m: XM430-W350 up to the wrist angle, XL430 after.
_TORQUE = {"waist": 4.1, "shoulder": 4.1, "elbow": 4.1, "wrist_angle": 4.1, "wrist_rotate": 1.4}


@dataclass(frozen=True)
class CameraSpec:
    """A pinhole camera; `pos` and `lookat` in the frame of the body it is mounted on."""

    name: str
    body: str
    pos: tuple[float, float, float]
    lookat: tuple[float, float, float]
    up: tuple[float, float, float]
    fovy: float


SCENE_CAMERA = CameraSpec("scene_camera", "world", (0.52, -0.24, 0.26), (0.30, 0.0, 0.065), (0, 0, 1), 40.0)
# On the gripper, above the plug, looking along it at the port (gripper frame: x along the plug).
WRIST_CAMERA = CameraSpec("wrist_camera", "gripper_link", (0.03, 0.0, 0.055), (0.16, 0.0, 0.0), (-1, 0, 0), 75.0)


def _xyaxes(cam: CameraSpec) -> str:
    """MuJoCo cameras look along their -z with y up: build x and y from lookat and up."""
    forward = np.asarray(cam.lookat, float) - np.asarray(cam.pos, float)
    forward /= np.linalg.norm(forward)
    x = np.cross(forward, np.asarray(cam.up, float))
    x /= np.linalg.norm(x)
    y = np.cross(x, forward)
    return " ".join(f"{v:.6f}" for v in (*x, *y))


def _camera_xml(cam: CameraSpec) -> str:
    pos = " ".join(f"{v:.4f}" for v in cam.pos)
    return f'<camera name="{cam.name}" pos="{pos}" xyaxes="{_xyaxes(cam)}" fovy="{cam.fovy}"/>'


def _router_xml(router: RouterGeometry) -> str:
    """The router's top layer is built of boxes around the port openings, so the plug can only
    enter an opening; the dark slab below shows through them as the ports."""
    hx, hy = router.half_x, router.half_y
    top, depth = router.top_height, router.hole_depth
    slab_h = (top - depth) / 2
    geoms = [
        f'<geom name="router_body" type="box" size="{hx} {hy} {slab_h:.5f}" pos="0 0 {slab_h:.5f}" '
        f'rgba="0.08 0.08 0.09 1" {_FIXTURE}/>'
    ]
    layer_z = top - depth / 2
    hl, hw = router.hole_length / 2, router.hole_width / 2
    strip = (hx - hl) / 2
    for side, x in (("front", -(hl + strip)), ("back", hl + strip)):
        geoms.append(
            f'<geom name="router_top_{side}" type="box" size="{strip:.5f} {hy} {depth / 2:.5f}" '
            f'pos="{x:.5f} 0 {layer_z:.5f}" material="router" {_FIXTURE}/>'
        )
    edges = [-hy] + [e for c in router.port_offsets() for e in (c - hw, c + hw)] + [hy]
    for i in range(0, len(edges), 2):
        lo, hi = edges[i], edges[i + 1]
        geoms.append(
            f'<geom name="router_web_{i // 2}" type="box" size="{hl:.5f} {(hi - lo) / 2:.5f} {depth / 2:.5f}" '
            f'pos="0 {(lo + hi) / 2:.5f} {layer_z:.5f}" material="router" {_FIXTURE}/>'
        )
    for i, c in enumerate(router.port_offsets()):
        geoms.append(f'<site name="port_{i}" pos="0 {c:.5f} {top}" size="0.002" rgba="0 0 0 0"/>')
    # A status LED strip on the back edge, so the router's heading shows in the scene camera.
    geoms.append(
        f'<geom name="router_leds" type="box" size="0.003 {hy * 0.6:.4f} 0.0015" '
        f'pos="{hx - 0.008:.4f} 0 {top + 0.0015:.4f}" rgba="0.1 0.8 0.2 1"/>'
    )
    return "\n".join(geoms)


def build_mjcf(arm: ArmSpec, router: RouterGeometry, plug: PlugGeometry, timestep: float = 0.002,
               render_width: int = 640, render_height: int = 480) -> str:
    """MJCF text of the arm holding the plug, the router on its 2-DoF rig, and both cameras."""
    j = {spec.name: spec for spec in arm.joints}

    def joint(name: str) -> str:
        s = j[name]
        axis = " ".join(str(a) for a in s.axis)
        return f'<joint name="{name}" axis="{axis}" range="{s.lower} {s.upper}"/>'

    def pos(name: str) -> str:
        return " ".join(str(v) for v in j[name].origin)

    ua = j["elbow"].origin  # upper arm vector
    fa = j["wrist_angle"].origin
    wr = j["wrist_rotate"].origin
    ee = arm.ee_offset
    pl = plug
    finger_lo, finger_hi = arm.finger_range
    rig_x, rig_y, rig_z = router.rig_origin
    offwidth, offheight = max(render_width * 2, 256), max(render_height, 256)
    return f"""
<mujoco model="widowx_cable_insertion">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{timestep}" integrator="implicitfast" cone="elliptic" impratio="4"/>
  <visual>
    <global offwidth="{offwidth}" offheight="{offheight}"/>
    <quality shadowsize="0" offsamples="0"/>
    <map znear="0.005"/>
    <headlight ambient="0.35 0.35 0.35" diffuse="0.45 0.45 0.45" specular="0 0 0"/>
  </visual>
  <asset>
    <material name="arm" rgba="0.12 0.12 0.13 1"/>
    <material name="joint" rgba="0.55 0.55 0.6 1"/>
    <material name="router" rgba="0.85 0.85 0.82 1"/>
  </asset>
  <default>
    <geom contype="0" conaffinity="0" friction="0.6 0.005 0.0001" solref="0.004 1"/>
    <joint armature="0.02" damping="0.05" frictionloss="0.01"/>
    <velocity ctrllimited="true"/>
  </default>
  <worldbody>
    <light name="key" pos="0.3 -0.4 1.2" dir="0 0.3 -1" directional="true" castshadow="false" diffuse="0.5 0.5 0.5"/>
    <geom name="table" type="plane" size="0.8 0.8 0.01" rgba="0.62 0.52 0.42 1" {_FIXTURE}/>
    {_camera_xml(SCENE_CAMERA)}
    <body name="base_link">
      <geom type="cylinder" size="0.05 0.036" pos="0 0 0.036" material="arm" mass="0.8"/>
      <body name="shoulder_link" gravcomp="1" pos="{pos('waist')}">
        {joint('waist')}
        <geom type="cylinder" size="0.035 0.02" pos="0 0 0.02" material="joint" mass="{_MASSES['shoulder']}"/>
        <body name="upper_arm_link" gravcomp="1" pos="{pos('shoulder')}">
          {joint('shoulder')}
          <geom type="capsule" size="0.018" fromto="0 0 0 {ua[0]} 0 {ua[2]}" material="arm" mass="{_MASSES['upper_arm']}"/>
          <body name="forearm_link" gravcomp="1" pos="{pos('elbow')}">
            {joint('elbow')}
            <geom type="capsule" size="0.016" fromto="0 0 0 {fa[0]} 0 0" material="arm" mass="{_MASSES['forearm']}"/>
            <body name="wrist_link" gravcomp="1" pos="{pos('wrist_angle')}">
              {joint('wrist_angle')}
              <geom type="capsule" size="0.015" fromto="0 0 0 {wr[0]} 0 0" material="joint" mass="{_MASSES['wrist']}"/>
              <body name="gripper_link" gravcomp="1" pos="{pos('wrist_rotate')}">
                {joint('wrist_rotate')}
                <geom type="box" size="0.025 0.03 0.02" pos="0.02 0 0" material="arm" mass="{_MASSES['gripper']}"/>
                {_camera_xml(WRIST_CAMERA)}
                <body name="fingers_link" pos="{0.043 + 0.023} 0 0">
                  <body name="left_finger_link" gravcomp="1">
                    <joint name="left_finger" type="slide" axis="0 1 0" range="{finger_lo} {finger_hi}" armature="0.001"/>
                    <geom type="box" size="0.018 0.0035 0.01" pos="0.012 -0.00565 0" material="joint" mass="0.02" {_PLUG}/>
                  </body>
                  <body name="right_finger_link" gravcomp="1">
                    <joint name="right_finger" type="slide" axis="0 1 0" range="{-finger_hi} {-finger_lo}" armature="0.001"/>
                    <geom type="box" size="0.018 0.0035 0.01" pos="0.012 0.00565 0" material="joint" mass="0.02" {_PLUG}/>
                  </body>
                </body>
                <body name="ee_gripper_link" pos="{ee} 0 0">
                  <site name="ee_gripper" size="0.002" rgba="1 0 0 0"/>
                  <body name="plug" gravcomp="1" pos="{pl.tip_offset - pl.length / 2} 0 0">
                    <geom name="plug" type="box" size="{pl.length / 2} {pl.width / 2} {pl.thickness / 2}" rgba="0.75 0.85 0.95 1" mass="0.01" {_PLUG}/>
                    <geom name="plug_contacts" type="box" size="0.0015 {pl.width / 2 - 0.001} {pl.thickness / 2 - 0.001}" pos="{pl.length / 2 - 0.0014} 0 0.0005" rgba="0.85 0.7 0.2 1"/>
                    <geom name="cable" type="capsule" size="0.003" fromto="{-pl.length / 2} 0 0 {-pl.length / 2 - 0.05} 0 -0.03" rgba="0.15 0.35 0.75 1"/>
                    <site name="plug_tip" pos="{pl.length / 2} 0 0" size="0.001" rgba="1 0 0 0"/>
                  </body>
                </body>
              </body>
            </body>
          </body>
        </body>
      </body>
    </body>
    <body name="rig_base" pos="{rig_x} {rig_y} {rig_z}">
      <geom type="box" size="0.07 0.085 0.002" pos="0 0 -0.001" rgba="0.3 0.3 0.32 1"/>
      <body name="rig_carriage">
        <inertial pos="0 0 0.01" mass="0.5" diaginertia="0.001 0.001 0.001"/>
        <joint name="rig_translation" type="slide" axis="0 1 0" range="-0.02 0.02" armature="1" damping="50"/>
        <body name="router">
          <joint name="rig_rotation" type="hinge" axis="0 0 1" range="-0.3 0.3" armature="1" damping="10"/>
          {_router_xml(router)}
        </body>
      </body>
    </body>
  </worldbody>
  <equality>
    <joint joint1="right_finger" joint2="left_finger" polycoef="0 -1 0 0 0" solref="0.005 1"/>
  </equality>
  <actuator>
    {''.join(f'<velocity name="{n}" joint="{n}" kv="{30.0 if n != "wrist_rotate" else 6.0}" ctrlrange="{-s.velocity_limit} {s.velocity_limit}" forcerange="{-_TORQUE[n]} {_TORQUE[n]}"/>' for n, s in j.items())}
    <position name="gripper" joint="left_finger" kp="200" kv="5" ctrlrange="{finger_lo} {finger_hi}" forcerange="-5 5"/>
    <position name="rig_translation" joint="rig_translation" kp="20000" kv="500" ctrlrange="-0.02 0.02"/>
    <position name="rig_rotation" joint="rig_rotation" kp="2000" kv="50" ctrlrange="-0.3 0.3"/>
  </actuator>
</mujoco>
"""
