"""Opening one OpenCV video source and saying what it really gave (no ROS, no threads).

A source is a V4L2 device (/dev/v4l/by-id/... or /dev/videoN, or an index "0"), a stream URL
(rtsp://, http://) or a video file. Webcams silently fall back to another size, pixel format or
rate when they do not support the one asked for; `open_source` reads back what the device
settled on and `CaptureConfig.mismatches` turns the difference into a message that says what to set.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import cv2

# V4L2 control values as OpenCV's V4L2 backend passes them through (linux/v4l2-controls.h).
V4L2_EXPOSURE_MANUAL = 1
V4L2_EXPOSURE_APERTURE_PRIORITY = 3


class CameraError(RuntimeError):
    """The source cannot be opened or read; the message names the source and the fix."""


@dataclass
class CaptureConfig:
    """What to open and how: the hardware half of the camera node's parameters."""

    device: str = "/dev/video0"
    """Stable device path (/dev/v4l/by-id/usb-...-video-index0), /dev/videoN, a V4L2 index ("0"),
    a stream URL (rtsp://, http://) or a video file (tests, replays)."""
    width: int = 640
    """Requested frame width, px (devices only; a file or stream gives its own size)."""
    height: int = 480
    """Requested frame height, px (devices only)."""
    fps: float = 30.0
    """Requested frame rate, Hz. Devices are asked for it; files are played back at it
    (0: the file's own rate)."""
    pixel_format: str = "MJPG"
    """FOURCC asked of the device: MJPG lets two 640x480 cameras at 30 Hz share one USB 2 bus,
    YUYV is uncompressed (about 18 MB/s each); empty: the device's default."""
    exposure: float = 0.0
    """Fixed exposure time in V4L2 units of 100 us (e.g. 150 = 15 ms); 0: auto exposure, whose
    brightness then changes with what the camera sees (the arm), which the model must learn away."""
    white_balance: int = 0
    """Fixed white-balance temperature, K (e.g. 4600); 0: auto white balance."""
    loop_file: bool = True
    """A video file starts again at its end (False: the camera stops at the end of the file)."""
    reconnect_min_s: float = 0.5
    """First wait before reopening a source that vanished or failed to open, s."""
    reconnect_max_s: float = 5.0
    """The wait doubles after each failed try up to this, s."""
    read_timeout_s: float = 2.0
    """A device or stream that gives no frame for this long is treated as gone and reopened, s."""

    def __post_init__(self) -> None:
        if not str(self.device).strip():
            raise ValueError("device is empty: set it to /dev/v4l/by-id/..., /dev/videoN, a URL or a video file")
        for name in ("width", "height"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0 px, got {getattr(self, name)}")
        if self.fps < 0:
            raise ValueError(f"fps must be >= 0, got {self.fps}")
        if self.pixel_format and len(self.pixel_format) != 4:
            raise ValueError(f"pixel_format {self.pixel_format!r} is not a FOURCC: use MJPG, YUYV or '' (device default)")
        if self.exposure < 0 or self.white_balance < 0:
            raise ValueError("exposure and white_balance must be >= 0 (0 means auto)")
        if not 0 < self.reconnect_min_s <= self.reconnect_max_s:
            raise ValueError("need 0 < reconnect_min_s <= reconnect_max_s")
        if self.read_timeout_s <= 0:
            raise ValueError("read_timeout_s must be > 0")

    @property
    def kind(self) -> str:
        """device, stream or file."""
        return source_kind(self.device)


@dataclass(frozen=True)
class SourceInfo:
    """What the source actually delivers."""

    source: str
    kind: str
    width: int
    height: int
    fps: float
    fourcc: str
    backend: str

    def __str__(self) -> str:
        return f"{self.width}x{self.height} {self.fourcc or '?'} at {self.fps:.1f} fps ({self.backend})"


def source_kind(device: str) -> str:
    if "://" in device:
        return "stream"
    if device.isdigit() or device.startswith("/dev/"):
        return "device"
    return "file"


def fourcc_str(code: float) -> str:
    code = int(code)
    chars = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))
    return chars if code and chars.isprintable() else ""


def _open(cfg: CaptureConfig) -> cv2.VideoCapture:
    timeout_ms = int(cfg.read_timeout_s * 1000)
    if cfg.kind == "device":
        if not cfg.device.isdigit() and not os.path.exists(cfg.device):
            by_id = sorted(os.listdir("/dev/v4l/by-id")) if os.path.isdir("/dev/v4l/by-id") else []
            raise CameraError(f"camera {cfg.device}: no such device (unplugged?). Cameras present in /dev/v4l/by-id: "
                              f"{by_id or 'none'}; set `device` to one of them")
        return cv2.VideoCapture(int(cfg.device) if cfg.device.isdigit() else cfg.device, cv2.CAP_V4L2)
    if cfg.kind == "file" and not os.path.isfile(cfg.device):
        raise CameraError(f"camera {cfg.device}: no such video file; set `device` to an existing file, a device or a URL")
    return cv2.VideoCapture(cfg.device, cv2.CAP_FFMPEG,
                            [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms])


def _configure_device(cap: cv2.VideoCapture, cfg: CaptureConfig, warn) -> None:
    """Ask for format, size, rate, exposure and white balance; V4L2 wants the FOURCC first."""
    if cfg.pixel_format:
        cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*cfg.pixel_format))
    cap.set(cv2.CAP_PROP_FRAME_WIDTH, cfg.width)
    cap.set(cv2.CAP_PROP_FRAME_HEIGHT, cfg.height)
    if cfg.fps > 0:
        cap.set(cv2.CAP_PROP_FPS, cfg.fps)
    if cfg.exposure > 0:
        ok = cap.set(cv2.CAP_PROP_AUTO_EXPOSURE, V4L2_EXPOSURE_MANUAL) and cap.set(cv2.CAP_PROP_EXPOSURE, cfg.exposure)
        if not ok:
            warn(f"camera {cfg.device} refused a fixed exposure of {cfg.exposure:g} (x100 us); brightness will follow "
                 f"the scene. Check the control's name and range with `v4l2-ctl -d {cfg.device} -l`")
    else:
        cap.set(cv2.CAP_PROP_AUTO_EXPOSURE, V4L2_EXPOSURE_APERTURE_PRIORITY)
        warn(f"camera {cfg.device}: auto exposure; set `exposure` (x100 us) for images whose brightness "
             f"does not change with the arm's position")
    if cfg.white_balance > 0:
        ok = cap.set(cv2.CAP_PROP_AUTO_WB, 0) and cap.set(cv2.CAP_PROP_WB_TEMPERATURE, cfg.white_balance)
        if not ok:
            warn(f"camera {cfg.device} refused a fixed white balance of {cfg.white_balance} K; check "
                 f"`v4l2-ctl -d {cfg.device} -l` for white_balance_temperature")
    else:
        cap.set(cv2.CAP_PROP_AUTO_WB, 1)


def open_source(cfg: CaptureConfig, warn=print) -> tuple[cv2.VideoCapture, SourceInfo]:
    """Open and configure the source; raise CameraError with the fix if it gives no frame."""
    cap = _open(cfg)
    if not cap.isOpened():
        cap.release()
        hint = {"device": f"is another process using it? (`fuser {cfg.device}`) Is the user in the `video` group?",
                "stream": "is the URL right and the stream up?",
                "file": "is it a video OpenCV's FFMPEG backend can decode?"}[cfg.kind]
        raise CameraError(f"camera {cfg.device}: OpenCV could not open this {cfg.kind}; {hint}")
    if cfg.kind == "device":
        _configure_device(cap, cfg, warn)
    info = SourceInfo(source=cfg.device, kind=cfg.kind,
                      width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                      fps=float(cap.get(cv2.CAP_PROP_FPS) or 0.0), fourcc=fourcc_str(cap.get(cv2.CAP_PROP_FOURCC)),
                      backend=cap.getBackendName())
    return cap, info


def mismatches(cfg: CaptureConfig, info: SourceInfo) -> str:
    """'' when a device gave what was asked, else one sentence naming the difference and the fix."""
    if cfg.kind != "device":
        return ""
    asked, gave = [], []
    if (info.width, info.height) != (cfg.width, cfg.height):
        asked.append(f"{cfg.width}x{cfg.height}")
        gave.append(f"{info.width}x{info.height}")
    if cfg.pixel_format and info.fourcc and info.fourcc != cfg.pixel_format:
        asked.append(cfg.pixel_format)
        gave.append(info.fourcc)
    if cfg.fps > 0 and info.fps > 0 and abs(info.fps - cfg.fps) > 0.5:
        asked.append(f"{cfg.fps:g} fps")
        gave.append(f"{info.fps:g} fps")
    if not asked:
        return ""
    return (f"camera {cfg.device} gave {' '.join(gave)}; asked {' '.join(asked)}. List what it supports with "
            f"`v4l2-ctl -d {cfg.device} --list-formats-ext` and set `width`, `height`, `fps` and `pixel_format` "
            f"of this node (launch/config/robot.yaml) to one of those modes")
