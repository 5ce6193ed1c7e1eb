"""Headless rendering of both cameras into one side-by-side frame.

Software rendering (Mesa through EGL) costs about 10 ms per call on a small CPU, most of it
fixed per-call overhead, so both cameras are drawn into two viewports of one offscreen buffer
and read back with a single `mjr_readPixels`: the 64x128 policy image costs one read, not two.
"""
from __future__ import annotations

import os

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")
if os.environ["MUJOCO_GL"] == "egl":
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import mujoco  # noqa: E402  (after MUJOCO_GL is set)


class SideBySideRenderer:
    """Renders named cameras left to right into one uint8 (height, width * n, 3) array."""

    def __init__(self, model: mujoco.MjModel, cameras: tuple[str, ...], width: int, height: int):
        total_w = width * len(cameras)
        if total_w > model.vis.global_.offwidth or height > model.vis.global_.offheight:
            raise ValueError(
                f"render size {total_w}x{height} exceeds the model's offscreen buffer "
                f"{model.vis.global_.offwidth}x{model.vis.global_.offheight}"
            )
        self._model = model
        self._width, self._height = width, height
        try:
            self._gl = mujoco.GLContext(total_w, height)
            self._gl.make_current()
        except Exception as exc:  # the message names the usual fix
            raise RuntimeError(
                f"could not create an OpenGL context for MuJoCo (MUJOCO_GL={os.environ.get('MUJOCO_GL')}): {exc}. "
                "Headless machines need EGL with Mesa: run scripts/setup.sh (it installs libegl1 "
                "libegl-mesa0 libgl1-mesa-dri) and keep MUJOCO_GL=egl."
            ) from exc
        self._scene = mujoco.MjvScene(model, maxgeom=500)
        self._context = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_150)
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self._context)
        self._option = mujoco.MjvOption()
        self._perturb = mujoco.MjvPerturb()
        self._cameras = []
        for name in cameras:
            cam = mujoco.MjvCamera()
            cam.type = mujoco.mjtCamera.mjCAMERA_FIXED
            cam.fixedcamid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, name)
            if cam.fixedcamid < 0:
                raise ValueError(f"no camera named {name!r} in the model")
            self._cameras.append(cam)
        self._viewports = [mujoco.MjrRect(i * width, 0, width, height) for i in range(len(cameras))]
        self._full = mujoco.MjrRect(0, 0, total_w, height)
        self._buffer = np.empty((height, total_w, 3), dtype=np.uint8)

    def render(self, data: mujoco.MjData) -> np.ndarray:
        """A new (height, width * n, 3) uint8 image, top row first."""
        self._gl.make_current()
        for cam, viewport in zip(self._cameras, self._viewports):
            mujoco.mjv_updateScene(self._model, data, self._option, self._perturb, cam,
                                   mujoco.mjtCatBit.mjCAT_ALL, self._scene)
            mujoco.mjr_render(viewport, self._scene, self._context)
        mujoco.mjr_readPixels(self._buffer, None, self._full, self._context)
        return np.flipud(self._buffer).copy()

    def close(self) -> None:
        if getattr(self, "_gl", None) is not None:
            try:
                self._context.free()
                self._gl.free()
            except Exception:  # the GL library may already be unloaded at interpreter exit
                pass
            self._gl = None

    def __del__(self) -> None:
        self.close()
