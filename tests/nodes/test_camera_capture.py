"""The plain-Python capture class on a real video file (the OpenCV FFMPEG path, no hardware)."""
import os
import time

import cv2
import numpy as np
import pytest

from widowx_bringup.camera import Camera, CameraError, CaptureConfig, StaleFrameError
from widowx_bringup.camera.source import SourceInfo, mismatches

pytestmark = pytest.mark.timeout(60)
FRAMES, W, H = 10, 160, 120


class ListLogger:
    """Collects log lines (the Camera takes any logger with info/warning/error)."""

    def __init__(self):
        self.lines: list[str] = []

    def info(self, msg): self.lines.append(f"INFO {msg}")
    def warning(self, msg): self.lines.append(f"WARN {msg}")
    def error(self, msg): self.lines.append(f"ERROR {msg}")

    def has(self, *words) -> bool:
        return any(all(w in line for w in words) for line in self.lines)


def write_video(path, frames=FRAMES, size=(W, H), fps=20.0) -> str:
    """Frame i: red (in RGB) with green = 20*i, so order and channel order can be checked."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened(), "OpenCV cannot write MJPG .avi here"
    for i in range(frames):
        bgr = np.zeros((size[1], size[0], 3), np.uint8)
        bgr[:, :, 2], bgr[:, :, 1] = 220, 20 * i
        writer.write(bgr)
    writer.release()
    return str(path)


@pytest.fixture
def video(tmp_path):
    return write_video(tmp_path / "cam.avi")


def green_index(frame) -> int:
    return int(round(float(frame.image[:, :, 1].mean()) / 20))


def wait_until(pred, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise TimeoutError(f"waited {timeout} s for {what}")


def test_reads_rgb_frames_in_order_with_capture_stamps(video):
    log = ListLogger()
    with Camera(CaptureConfig(device=video, fps=20.0), logger=log) as cam:
        frames = [cam.read(timeout_s=2.0) for _ in range(FRAMES + 5)]
    assert log.has("INFO", f"{W}x{H} MJPG")
    f0 = frames[0]
    assert f0.image.shape == (H, W, 3) and f0.image.dtype == np.uint8
    assert f0.image[:, :, 0].mean() > 200 and f0.image[:, :, 2].mean() < 20, "channels must be RGB, not BGR"
    assert [green_index(f) for f in frames] == [i % FRAMES for i in range(FRAMES + 5)], "file must loop in order"
    assert all(b.seq == a.seq + 1 for a, b in zip(frames, frames[1:]))
    assert abs(frames[-1].stamp_ns - time.time_ns()) < 2e9
    rate = (len(frames) - 1) / (frames[-1].received_monotonic - frames[0].received_monotonic)
    assert 16 < rate < 24, f"file played at {rate:.1f} Hz, asked 20"


def test_end_of_file_without_loop_goes_stale(video):
    log = ListLogger()
    with Camera(CaptureConfig(device=video, fps=50.0, loop_file=False), logger=log) as cam:
        got = [cam.read() for _ in range(FRAMES)]
        assert len(got) == FRAMES
        with pytest.raises(StaleFrameError, match="no new frame within 0.5 s.*end of file"):
            cam.read(timeout_s=0.5)
        with pytest.raises(StaleFrameError, match=r"newest frame is \d+ ms old \(> 50 ms"):
            cam.read_latest(max_age_ms=50)
    assert log.has("end of file", "loop_file")


def test_missing_file_raises_with_the_fix(tmp_path):
    with pytest.raises(CameraError, match="no such video file; set `device`"):
        Camera(CaptureConfig(device=str(tmp_path / "nope.avi"))).connect()


def test_missing_device_names_the_stable_paths():
    with pytest.raises(CameraError, match=r"/dev/v4l/by-id/usb-nope: no such device.*/dev/v4l/by-id.*set `device`"):
        Camera(CaptureConfig(device="/dev/v4l/by-id/usb-nope")).connect()


def test_file_that_vanishes_and_comes_back(tmp_path):
    path = tmp_path / "cam.avi"
    log = ListLogger()
    cam = Camera(CaptureConfig(device=str(path), fps=20.0, reconnect_min_s=0.2, reconnect_max_s=0.4), logger=log)
    try:
        cam.connect(block=False)  # not there yet: waits, does not raise
        wait_until(lambda: log.has("WARN", "no such video file", "waiting for"), 3, "a log line naming the file")
        with pytest.raises(StaleFrameError, match="no frame yet.*waiting for"):
            cam.read_latest()
        write_video(path)
        first = cam.read(timeout_s=3.0)
        assert log.has("connected again")
        os.rename(path, tmp_path / "away.avi")  # noticed at the end of the current loop of the file
        wait_until(lambda: not cam.connected, 3, "the camera to notice the file is gone")
        wait_until(lambda: log.lines[-1].startswith("WARN") and "waiting for" in log.lines[-1], 3, "a waiting line")
        time.sleep(0.2)
        with pytest.raises(StaleFrameError, match="ms old.*waiting for"):
            cam.read_latest(max_age_ms=150)
        last_seq = cam.read_latest(max_age_ms=1e9).seq
        os.rename(tmp_path / "away.avi", path)
        wait_until(lambda: cam.read_latest(max_age_ms=1e9).seq > last_seq, 3, "frames after the file came back")
        assert cam.connected and cam.reconnects == 2 and first.seq < last_seq
    finally:
        cam.close()


def test_mismatch_message_says_what_to_set():
    cfg = CaptureConfig(device="/dev/v4l/by-id/usb-cam", width=640, height=480, fps=30, pixel_format="MJPG")
    gave = SourceInfo("/dev/v4l/by-id/usb-cam", "device", 640, 480, 30.0, "YUYV", "V4L2")
    msg = mismatches(cfg, gave)
    assert "camera /dev/v4l/by-id/usb-cam gave YUYV; asked MJPG" in msg and "`pixel_format`" in msg
    assert "--list-formats-ext" in msg
    assert mismatches(cfg, SourceInfo("/dev/v4l/by-id/usb-cam", "device", 640, 480, 30.0, "MJPG", "V4L2")) == ""
    slow = mismatches(cfg, SourceInfo("x", "device", 320, 240, 15.0, "MJPG", "V4L2"))
    assert "gave 320x240 15 fps; asked 640x480 30 fps" in slow


@pytest.mark.parametrize("kw, match", [
    (dict(pixel_format="MJPEG"), "not a FOURCC"),
    (dict(device=" "), "device is empty"),
    (dict(width=0), "width must be > 0"),
    (dict(exposure=-1.0), "0 means auto"),
])
def test_bad_settings_are_refused(kw, match):
    with pytest.raises(ValueError, match=match):
        CaptureConfig(**kw)
