"""numpy images <-> sensor_msgs/Image, and the policy's 64x128 observation (no cv_bridge needed).

PyPI carries no cv_bridge, and the policy needs only a few encodings, so the conversion lives here:
    msg = rgb_to_image(rgb, stamp=capture_stamp, frame_id="scene_camera")   # (H, W, 3) uint8 rgb
    rgb = image_to_rgb(msg)                                                 # rgb8, bgr8, mono8, yuv422
    obs = join_cameras(to_policy_frame(scene_msg), to_policy_frame(wrist_msg))  # (64, 128, 3)

Speed matters: the policy converts two frames every 3.3 Hz step inside its control loop, so every
path avoids per-pixel Python work (one copy into the message, zero-copy views out of it, one
cv2.resize with INTER_AREA); 640x480 -> 64x64 takes well under a millisecond.
A message that cannot be read raises ValueError naming what is wrong and what to change.
"""
from __future__ import annotations

import array

import cv2
import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import Image

POLICY_SIZE = 64
"""Side of each camera's frame in the MELD observation (the paper: two 64x64 images, 64x128)."""

CHANNELS: dict[str, int] = {
    "rgb8": 3, "bgr8": 3, "mono8": 1,
    # packed 4:2:2, 2 bytes per pixel. ROS names: "yuv422" and "uyvy" are UYVY byte order;
    # "yuv422_yuy2" and "yuyv" are YUYV (what most USB webcams send uncompressed).
    "yuv422": 2, "uyvy": 2, "yuv422_yuy2": 2, "yuyv": 2,
}
"""Bytes per pixel of every encoding `image_to_rgb` reads."""

_YUV_TO_RGB = {"yuv422": cv2.COLOR_YUV2RGB_UYVY, "uyvy": cv2.COLOR_YUV2RGB_UYVY,
               "yuv422_yuy2": cv2.COLOR_YUV2RGB_YUYV, "yuyv": cv2.COLOR_YUV2RGB_YUYV}


# --- stamps -----------------------------------------------------------------------------------
def ns_to_stamp(ns: int) -> Time:
    """builtin_interfaces/Time from integer nanoseconds (e.g. `time.time_ns()` at capture)."""
    return Time(sec=int(ns // 1_000_000_000), nanosec=int(ns % 1_000_000_000))


def stamp_to_ns(stamp: Time) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


# --- numpy -> message -------------------------------------------------------------------------
def rgb_to_image(rgb: np.ndarray, stamp: Time | int | None = None, frame_id: str = "",
                 encoding: str = "rgb8") -> Image:
    """A sensor_msgs/Image (rgb8 by default) holding a (H, W, 3) uint8 array, one copy.

    `stamp` is a builtin_interfaces/Time or integer nanoseconds; take it when the frame was
    captured, not when it is published, so subscribers can measure the camera's latency.
    `encoding` may be bgr8 for an array in OpenCV's channel order, or mono8 for (H, W).
    """
    if encoding not in ("rgb8", "bgr8", "mono8"):
        raise ValueError(f"rgb_to_image writes rgb8, bgr8 or mono8, not {encoding!r}; convert the array first "
                         f"(cv2.cvtColor) or publish it as rgb8")
    want_ndim = 2 if encoding == "mono8" else 3
    if rgb.dtype != np.uint8 or rgb.ndim != want_ndim or (want_ndim == 3 and rgb.shape[2] != 3):
        shape = "(H, W)" if want_ndim == 2 else "(H, W, 3)"
        raise ValueError(f"{encoding} image must be a {shape} uint8 array, got {rgb.shape} {rgb.dtype}; "
                         f"use np.clip(x, 0, 255).astype(np.uint8) for float images")
    msg = Image()
    if stamp is not None:
        msg.header.stamp = ns_to_stamp(stamp) if isinstance(stamp, (int, np.integer)) else stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(rgb.shape[0]), int(rgb.shape[1])
    msg.encoding, msg.is_bigendian = encoding, 0
    msg.step = msg.width * CHANNELS[encoding]
    data = array.array("B")
    data.frombytes(np.ascontiguousarray(rgb).data)  # one memcpy; a bytes/list would go per element
    msg.data = data
    return msg


# --- message -> numpy -------------------------------------------------------------------------
def check_image(msg: Image) -> None:
    """Raise ValueError naming what is wrong with `msg` and the fix; return if it can be read."""
    where = f"image from frame '{msg.header.frame_id}'" if msg.header.frame_id else "image"
    if msg.encoding not in CHANNELS:
        raise ValueError(f"{where} has encoding {msg.encoding!r}; readable: {sorted(CHANNELS)}. Publish rgb8 "
                         f"(the camera node does), or set the camera's `pixel_format` to MJPG or YUYV")
    if msg.width <= 0 or msg.height <= 0:
        raise ValueError(f"{where} is {msg.width}x{msg.height}: empty; the publisher sent no frame")
    row = msg.width * CHANNELS[msg.encoding]
    if msg.step < row:
        raise ValueError(f"{where}: step {msg.step} < width {msg.width} x {CHANNELS[msg.encoding]} bytes "
                         f"({msg.encoding}) = {row}; the publisher must set step to at least {row}")
    need = msg.step * msg.height
    if len(msg.data) != need:
        what = "truncated" if len(msg.data) < need else "longer than its header says"
        raise ValueError(f"{where} is {what}: {len(msg.data)} bytes of data, but {msg.height} rows x step "
                         f"{msg.step} = {need}; the publisher's height/step/data disagree (a frame cut by the "
                         f"transport: for frames over ~500 KB use launch/config/fastdds_large_frames.xml)")


def image_to_rgb(msg: Image) -> np.ndarray:
    """(H, W, 3) uint8 rgb array from an rgb8, bgr8, mono8 or 4:2:2 YUV message.

    For rgb8 with step == 3*width the result is a read-only view of the message's buffer (no copy);
    call .copy() before writing into it.
    """
    check_image(msg)
    h, w, c = msg.height, msg.width, CHANNELS[msg.encoding]
    flat = np.frombuffer(msg.data, dtype=np.uint8)
    rows = flat.reshape(h, msg.step)
    pixels = rows if msg.step == w * c else rows[:, :w * c]
    pixels = pixels.reshape(h, w, c)
    if msg.encoding == "rgb8":
        return pixels
    if msg.encoding == "bgr8":
        return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    if msg.encoding == "mono8":
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB)
    if w % 2:
        raise ValueError(f"{msg.encoding} image is {w} px wide; 4:2:2 needs an even width (pixels come in pairs)")
    return cv2.cvtColor(np.ascontiguousarray(pixels), _YUV_TO_RGB[msg.encoding])


# --- the policy's observation -----------------------------------------------------------------
def to_policy_frame(image: Image | np.ndarray, size: int = POLICY_SIZE) -> np.ndarray:
    """(size, size, 3) uint8 rgb: the frame resized with area averaging (no aliasing, as in MELD).

    Accepts a sensor_msgs/Image of any readable encoding or a (H, W, 3) uint8 rgb array. A 4:3
    frame is squashed to the square, not cropped, so nothing the camera was aimed at is lost; the
    same squash happens at training and at test time, so the model never sees the difference.
    """
    rgb = image_to_rgb(image) if isinstance(image, Image) else image
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"to_policy_frame needs a (H, W, 3) uint8 rgb array, got {rgb.shape} {rgb.dtype}")
    if rgb.shape[0] == size and rgb.shape[1] == size:
        return np.ascontiguousarray(rgb)
    return cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)


def join_cameras(scene: np.ndarray, wrist: np.ndarray) -> np.ndarray:
    """The MELD observation: scene on the left, wrist on the right, (64, 128, 3) uint8."""
    for name, frame in (("scene", scene), ("wrist", wrist)):
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"{name} frame must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}; "
                             f"pass it through to_policy_frame first")
    if scene.shape != wrist.shape:
        raise ValueError(f"scene frame {scene.shape} and wrist frame {wrist.shape} differ; "
                         f"resize both with to_policy_frame(image, size=...) to the same size")
    return np.concatenate([scene, wrist], axis=1)
