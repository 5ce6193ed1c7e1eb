"""The camera node: one webcam (or stream, or video file) -> sensor_msgs/Image rgb8.

Usage (the launch files and `meld-launch` start both cameras for you):
    camera_node --ros-args -r __node:=scene_camera -p device:=/dev/v4l/by-id/usb-Logitech_C920_AAAA-video-index0
    camera_node --ros-args -r __node:=wrist_camera -p device:=/dev/v4l/by-id/usb-Logitech_C920_BBBB-video-index0
    camera_node --ros-args -r __node:=scene_camera -p device:=replay.avi -p fps:=15.0   # a file, looped
For 640x480 frames across processes, point FASTRTPS_DEFAULT_PROFILES_FILE and
FASTDDS_DEFAULT_PROFILES_FILE at launch/config/fastdds_large_frames.xml (the runner does).

One executable, run once per camera under the node names `scene_camera` and `wrist_camera`.
Topics (private, so the node name is part of them, as the sim node publishes them):
  out  ~/image_raw   sensor_msgs/Image rgb8, SENSOR QoS: <ns>/scene_camera/image_raw and
                     <ns>/wrist_camera/image_raw; header.stamp = wall-clock time the frame was
                     dequeued from the driver, header.frame_id = `frame_id` (default: node name)
  out  /diagnostics  measured frame rate and jitter; ERROR while the device is away
Parameters: the fields of CameraNodeConfig (and CaptureConfig) below, e.g. device, width, height,
fps, pixel_format, exposure, white_balance, loop_file, publish_size, frame_id.
A missing or unplugged device is not fatal: the node logs what it waits for and reconnects.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from sensor_msgs.msg import Image

from meld_ros.images import rgb_to_image
from meld_ros.loop_monitor import LoopMonitor, diagnostics_message
from meld_ros.node_main import run_node
from meld_ros.params import declare_config
from meld_ros.qos import SENSOR
from .capture import Camera, Frame
from .source import CaptureConfig


@dataclass
class CameraNodeConfig(CaptureConfig):
    """Parameters of one camera node: the capture settings plus what goes into the message."""

    frame_id: str = ""
    """header.frame_id of the images; empty: the node's name (scene_camera, wrist_camera)."""
    publish_size: int = 0
    """0: publish frames at the captured size; N > 0: resize to NxN (INTER_AREA) before
    publishing, e.g. 64 to match the sim's images and cut the bandwidth to 12 KB a frame."""
    diagnostics_period: float = 1.0
    """Seconds between /diagnostics messages."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.publish_size < 0:
            raise ValueError(f"publish_size must be >= 0 (0: captured size), got {self.publish_size}")
        if self.diagnostics_period <= 0:
            raise ValueError("diagnostics_period must be > 0 s")


class CameraNode(Node):
    def __init__(self) -> None:
        super().__init__("camera")
        self.config = cfg = declare_config(self, CameraNodeConfig)
        self.frame_id = cfg.frame_id or self.get_name()
        self.image_pub = self.create_publisher(Image, "~/image_raw", SENSOR)
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.loop = LoopMonitor(f"{self.get_name()}: frames", cfg.fps or 30.0)
        self._loop_lock = threading.Lock()  # ticks come from the capture thread, status from the executor
        self.create_timer(cfg.diagnostics_period, self._on_diagnostics)
        self.camera = Camera(cfg, logger=self.get_logger(), on_frame=self._publish)
        self.get_logger().info(f"publishing {self.image_pub.topic_name} (frame '{self.frame_id}') from "
                               f"{cfg.kind} {cfg.device}")
        self.camera.connect(block=False)  # a missing device is logged and waited for, not fatal

    def _publish(self, frame: Frame) -> None:
        """On the capture thread: stamp = capture time, so subscribers see the true latency."""
        image = frame.image
        size = self.config.publish_size
        if size and image.shape[:2] != (size, size):
            image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        self.image_pub.publish(rgb_to_image(image, stamp=frame.stamp_ns, frame_id=self.frame_id))
        with self._loop_lock:
            self.loop.tick(frame.received_monotonic)

    def _on_diagnostics(self) -> None:
        with self._loop_lock:
            status = self.loop.status(hardware_id=self.config.device)
        info = self.camera.info
        if info is None:
            status.level = DiagnosticStatus.ERROR
            status.message = self.camera.waiting_for
        else:
            status.values.append(KeyValue(key="source", value=str(info)))
        status.values.append(KeyValue(key="reconnects", value=str(self.camera.reconnects)))
        self.diag_pub.publish(diagnostics_message(self, [status]))

    def on_shutdown(self) -> None:
        self.camera.close()


def main(args: list[str] | None = None) -> int:
    return run_node(CameraNode, args=args)


if __name__ == "__main__":
    raise SystemExit(main())
