"""The webcam reader behind a small contract (STYLE.md #6), plain Python, no ROS.

    with Camera(CaptureConfig(device="/dev/v4l/by-id/usb-...-video-index0")) as cam:
        frame = cam.read()                    # the next frame, waits (with a deadline)
        frame = cam.read_latest(max_age_ms=100)  # the newest frame now, or StaleFrameError

A background thread reads the source as fast as it delivers (so the driver's queue never holds
old frames and the newest one is at most a frame period old), converts to RGB and stamps each frame
with the wall-clock time it was dequeued. When the source vanishes (USB unplugged, stream down,
file deleted) the thread closes it and reopens with a doubling backoff, logging what it waits for;
it never raises into the caller. Video files are played back at `fps` and loop by default.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from .source import CameraError, CaptureConfig, SourceInfo, mismatches, open_source


class StaleFrameError(CameraError, TimeoutError):
    """The newest frame is older than the caller accepts (or there is none)."""


@dataclass(frozen=True)
class Frame:
    image: np.ndarray
    """(H, W, 3) uint8 RGB."""
    stamp_ns: int
    """Wall-clock time (time.time_ns, the ROS system clock) when the frame was dequeued."""
    seq: int
    """Frame counter since the Camera was created (gaps: frames the caller did not read)."""
    received_monotonic: float
    """time.monotonic() at the same moment, for ages immune to clock steps."""


class Camera:
    """One video source, read on a background thread; usable as a context manager."""

    def __init__(self, config: CaptureConfig, logger=None, on_frame: Callable[[Frame], None] | None = None):
        self.config = config
        self.log = logger or logging.getLogger(f"camera.{config.device}")
        self.on_frame = on_frame
        """Called on the reader thread with every new frame (the node publishes from here)."""
        self.info: SourceInfo | None = None
        """What the source gave at the last (re)connection; None while disconnected."""
        self.waiting_for = "not connected"
        """Human-readable state while no frames come (diagnostics show it)."""
        self.reconnects = 0
        self._cap: cv2.VideoCapture | None = None
        self._latest: Frame | None = None
        self._seq = 0
        self._new_frame = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ended = False
        self._rewinding = False
        self._last_read_seq = 0

    # --- the contract -----------------------------------------------------------------------
    def connect(self, block: bool = True) -> None:
        """Open the source and start reading. block=True raises CameraError (with the fix) when
        it cannot be opened now; block=False returns at once and keeps trying in the background."""
        if self._thread is not None:
            return
        if block:
            self._open()
        self._thread = threading.Thread(target=self._run, name=f"camera {self.config.device}", daemon=True)
        self._thread.start()

    def read(self, timeout_s: float = 2.0) -> Frame:
        """The next frame newer than the last one returned by read(); waits at most timeout_s."""
        deadline = time.monotonic() + timeout_s
        with self._new_frame:
            last = self._last_read_seq
            while self._latest is None or self._latest.seq <= last:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StaleFrameError(f"camera {self.config.device}: no new frame within {timeout_s:g} s "
                                          f"({self.waiting_for})")
                self._new_frame.wait(left)
            self._last_read_seq = self._latest.seq
            return self._latest

    def read_latest(self, max_age_ms: float = 500.0) -> Frame:
        """The newest frame without waiting; StaleFrameError if it is older than max_age_ms."""
        frame = self._latest
        if frame is None:
            raise StaleFrameError(f"camera {self.config.device}: no frame yet ({self.waiting_for})")
        age_ms = (time.monotonic() - frame.received_monotonic) * 1e3
        if age_ms > max_age_ms:
            raise StaleFrameError(f"camera {self.config.device}: newest frame is {age_ms:.0f} ms old "
                                  f"(> {max_age_ms:g} ms; {self.waiting_for})")
        return frame

    def close(self, timeout_s: float = 3.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                self.log.warning(f"camera {self.config.device}: reader thread still blocked in the driver after "
                                 f"{timeout_s:g} s; leaving it (daemon)")
            self._thread = None
        self._release()

    def __enter__(self) -> "Camera":
        self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        return self._cap is not None

    # --- the reader thread ------------------------------------------------------------------
    def _open(self) -> None:
        cfg = self.config
        cap, info = open_source(cfg, warn=self.log.warning)
        self._cap, self.info, self.waiting_for = cap, info, f"reading {cfg.kind} {cfg.device}"
        self._period = 1.0 / (cfg.fps or info.fps or 30.0) if cfg.kind == "file" else 0.0
        self._next_due = time.monotonic()
        self._last_frame_time = time.monotonic()
        if self._rewinding:  # a looping file reopened at its end: nothing new to say
            self._rewinding = False
            return
        self.log.info(f"camera {cfg.device}: {info}")
        problem = mismatches(cfg, info)
        if problem:
            self.log.warning(problem)

    def _release(self) -> None:
        cap, self._cap, self.info = self._cap, None, None
        if cap is not None:
            cap.release()

    def _run(self) -> None:
        backoff, failed_tries = self.config.reconnect_min_s, 0
        while not self._stop.is_set():
            if self._cap is None:
                try:
                    self._open()
                except CameraError as exc:
                    failed_tries += 1
                    self.waiting_for = f"waiting for {self.config.device} to appear"
                    self.log.warning(f"{exc}; waiting for {self.config.device}, next try in {backoff:.1f} s")
                    self._stop.wait(backoff)
                    backoff = min(2 * backoff, self.config.reconnect_max_s)
                    continue
                if failed_tries:
                    self.reconnects += 1
                    self.log.info(f"camera {self.config.device}: connected again after {failed_tries} failed tries")
                backoff, failed_tries = self.config.reconnect_min_s, 0
            try:
                self._read_one()
            except CameraError as exc:
                self.log.warning(f"{exc}; reopening {self.config.device}")
                self._release()
                self.waiting_for = f"reopening {self.config.device}"
            if self._ended:
                self.waiting_for = f"end of file {self.config.device} (loop_file is false)"
                self.log.info(f"camera {self.config.device}: end of file, no more frames (set loop_file to repeat it)")
                self._release()
                return

    def _read_one(self) -> None:
        cfg, cap = self.config, self._cap
        if self._period:  # a file has no clock of its own: play it back at fps
            delay = self._next_due - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            self._next_due = max(self._next_due + self._period, time.monotonic() - self._period)
        if not cap.grab():
            if cfg.kind == "file":
                if not cfg.loop_file:
                    self._ended = True
                    return
                self._rewinding = True  # reopen, which also notices a file deleted meanwhile
                self._release()
                return
            if cfg.kind == "device" and not cfg.device.isdigit() and not os.path.exists(cfg.device):
                raise CameraError(f"camera {cfg.device}: device vanished (unplugged?)")
            if time.monotonic() - self._last_frame_time > cfg.read_timeout_s:
                raise CameraError(f"camera {cfg.device}: no frame for {cfg.read_timeout_s:g} s (unplugged?)")
            self._stop.wait(0.01)
            return
        stamp_ns, now = time.time_ns(), time.monotonic()  # dequeued: before the MJPG decode
        ok, bgr = cap.retrieve()
        if not ok or bgr is None:
            raise CameraError(f"camera {cfg.device}: a frame could not be decoded")
        self._last_frame_time = now
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if bgr.ndim == 3 else cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
        with self._new_frame:
            self._seq += 1
            frame = self._latest = Frame(rgb, stamp_ns, self._seq, now)
            self._new_frame.notify_all()
        if self.on_frame is not None:
            try:
                self.on_frame(frame)
            except Exception as exc:  # the reader must go on
                self.log.error(f"camera {cfg.device}: on_frame callback failed: {type(exc).__name__}: {exc}")
