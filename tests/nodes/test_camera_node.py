"""The camera node as a real process on generated video files, received over DDS by the test."""
import json
import os
import sys
import time
from pathlib import Path

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from graph_harness import ProbeNode, wait_for
from sensor_msgs.msg import Image
from test_camera_capture import write_video

from meld_ros.qos import SENSOR

pytestmark = pytest.mark.timeout(90)
MODULE = "widowx_bringup.camera.node"
PROFILE = Path(__file__).resolve().parents[2] / "launch" / "config" / "fastdds_large_frames.xml"


@pytest.fixture
def probe():
    p = ProbeNode("camera_test_probe")
    try:
        yield p
    finally:
        p.close()


def in_window(got: list, seconds: float) -> list:
    """Messages that arrive during the next `seconds` (the list fills from the probe's thread)."""
    start = len(got)
    time.sleep(seconds)
    return got[start:]


def test_scene_and_wrist_cameras_publish_under_their_node_names(tmp_path, spawn, probe):
    scene_video = write_video(tmp_path / "scene.avi", size=(160, 120))
    wrist_video = write_video(tmp_path / "wrist.avi", size=(96, 80))
    scene = spawn.node(MODULE, "scene_camera", {"device": scene_video, "fps": 20.0})
    wrist = spawn.node(MODULE, "wrist_camera", {"device": wrist_video, "fps": 20.0, "publish_size": 64,
                                                "frame_id": "wrist_camera_optical"})
    scene_imgs = probe.collect(Image, "scene_camera/image_raw", SENSOR)
    wrist_imgs = probe.collect(Image, "wrist_camera/image_raw", SENSOR)
    diags = probe.collect(DiagnosticArray, "/diagnostics", 10)
    wait_for(lambda: scene_imgs and wrist_imgs, 20, "images on /scene_camera/image_raw and /wrist_camera/image_raw")

    window = in_window(scene_imgs, 2.0)
    assert 24 <= len(window) <= 48, f"{len(window)} scene frames in 2 s; configured 20 Hz"
    _, msg = window[-1]
    assert (msg.width, msg.height, msg.encoding, msg.step, len(msg.data)) == (160, 120, "rgb8", 480, 160 * 120 * 3)
    assert msg.header.frame_id == "scene_camera"
    age = time.time() - (msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9)
    assert 0 <= age < 1.0, f"stamp {age:.3f} s before now: stamps must be the capture time"
    stamps = [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for _, m in window]
    assert all(b > a for a, b in zip(stamps, stamps[1:]))

    w = wrist_imgs[-1][1]
    assert (w.width, w.height, w.encoding, w.header.frame_id) == (64, 64, "rgb8", "wrist_camera_optical")

    def scene_diag():
        for _, arr in diags:
            for s in arr.status:
                if s.name == "scene_camera: frames" and s.hardware_id == scene_video:
                    return s
    status = wait_for(scene_diag, 5, "a /diagnostics status from scene_camera")
    values = {kv.key: kv.value for kv in status.values}
    assert "160x120 MJPG" in values["source"]
    assert scene.alive() and wrist.alive()
    assert scene.stop() == 0 and wrist.stop() == 0, scene.output() + wrist.output()


def test_missing_file_is_waited_for_then_published(tmp_path, spawn, probe):
    video = tmp_path / "later.avi"
    cam = spawn.node(MODULE, "scene_camera", {"device": str(video), "reconnect_max_s": 1.0})
    images = probe.collect(Image, "scene_camera/image_raw", SENSOR)
    wait_for(lambda: "waiting for" in cam.output(), 20, "the node to log what it waits for")
    assert f"{video}: no such video file" in cam.output()
    time.sleep(1.0)
    assert cam.alive() and not images
    write_video(video)
    wait_for(lambda: images, 15, "images once the file exists")
    assert "connected again" in cam.output()
    assert cam.stop() == 0


def test_bad_parameter_stops_the_node_with_the_fix(tmp_path, spawn):
    cam = spawn.node(MODULE, "scene_camera", {"device": "x.avi", "pixel_format": "MJPEG"})
    deadline = time.monotonic() + 30
    while cam.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cam.proc.returncode == 1, cam.output()
    assert "parameters of scene_camera" in cam.output() and "not a FOURCC" in cam.output()


SUBSCRIBER = """
import json, sys, time, rclpy
from sensor_msgs.msg import Image
from meld_ros.qos import SENSOR
rclpy.init(); node = rclpy.create_node("big_frame_probe"); got = []
node.create_subscription(Image, "scene_camera/image_raw", lambda m: got.append(len(m.data)), SENSOR)
deadline = time.monotonic() + 20
while not got and time.monotonic() < deadline:
    rclpy.spin_once(node, timeout_sec=0.1)
start, end = len(got), time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    rclpy.spin_once(node, timeout_sec=0.05)
print(json.dumps({"count": len(got) - start, "sizes": sorted(set(got))}), flush=True)
node.destroy_node(); rclpy.try_shutdown()
"""


def test_640x480_frames_cross_processes_with_the_fastdds_profile(tmp_path, spawn):
    env = dict(os.environ, FASTRTPS_DEFAULT_PROFILES_FILE=str(PROFILE), FASTDDS_DEFAULT_PROFILES_FILE=str(PROFILE))
    video = write_video(tmp_path / "vga.avi", frames=6, size=(640, 480))
    cam = spawn.node(MODULE, "scene_camera", {"device": video, "fps": 15.0}, env)
    sub = spawn([sys.executable, "-c", SUBSCRIBER, "3.0"], "subscriber", env)
    sub.proc.wait(40)
    out = sub.output().strip().splitlines()
    assert out and out[-1].startswith("{"), f"subscriber printed no result:\n{sub.output()}\n{cam.output()}"
    result = json.loads(out[-1])
    assert result["sizes"] == [640 * 480 * 3], result
    assert result["count"] >= 30, f"{result['count']} full 640x480 frames in 3 s at 15 Hz"
