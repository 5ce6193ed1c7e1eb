"""Camera image latency and policy-loop jitter across processes, over real DDS.

Usage (from the repository root; env.sh keeps DDS on loopback and picks a domain):
    source scripts/env.sh && .venv/bin/python benchmarks/ros_latency.py
    source scripts/env.sh && .venv/bin/python benchmarks/ros_latency.py --seconds 5 --jitter-seconds 20

What it measures, each case in fresh processes:
  latency   a publisher process stamps each frame with time.time_ns() just before building the
            sensor_msgs/Image (as the camera node stamps at capture), a subscriber process takes
            receive time minus stamp: 64x128 rgb8 at 30 Hz (default Fast DDS settings), 640x480 rgb8
            at 30 Hz with launch/config/fastdds_large_frames.xml, and 640x480 without it (to show
            why the profile exists: with the default 512 KB shared-memory segment frames are lost).
  jitter    two real camera_node processes (scene_camera, wrist_camera) play a 640x480 MJPG file at
            30 Hz; a policy-like process receives both in their own callback group of a
            MultiThreadedExecutor and runs a 3.3 Hz timer (own group) that turns the newest frames
            into the 64x128 observation; p99 of |period - 1/3.3 s| of that timer. Repeated with the
            cameras publishing 64x64 (publish_size:=64), and with a SingleThreadedExecutor, because
            rclpy 7.1's MultiThreadedExecutor stalls the timer for 100s of ms under 640x480 traffic
            (ros2/rclpy#1223, #1452).
Goals: latency p99 <= 5 ms at 64x128; loop jitter p99 <= 10 ms.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PROFILE = ROOT / "launch" / "config" / "fastdds_large_frames.xml"


# --- roles, each run in its own process ---------------------------------------------------------
def role_pub(a: argparse.Namespace) -> None:
    import rclpy
    from sensor_msgs.msg import Image

    from meld_ros.images import rgb_to_image
    from meld_ros.qos import SENSOR

    rclpy.init()
    node = rclpy.create_node("bench_pub")
    pub = node.create_publisher(Image, "bench/image_raw", SENSOR)
    frames = [np.random.default_rng(i).integers(0, 256, (a.height, a.width, 3), dtype=np.uint8) for i in range(4)]
    deadline = time.monotonic() + 15
    while pub.get_subscription_count() == 0:  # discovery
        if time.monotonic() > deadline:
            sys.exit("bench_pub: no subscriber on bench/image_raw within 15 s")
        time.sleep(0.05)
    time.sleep(0.5)
    period, t = 1.0 / a.rate, time.monotonic()
    for i in range(int(a.seconds * a.rate)):
        t += period
        time.sleep(max(0.0, t - time.monotonic()))
        pub.publish(rgb_to_image(frames[i % 4], stamp=time.time_ns(), frame_id="bench"))
    time.sleep(0.5)
    node.destroy_node()
    rclpy.try_shutdown()


def role_sub(a: argparse.Namespace) -> None:
    import rclpy
    from sensor_msgs.msg import Image

    from meld_ros.images import stamp_to_ns
    from meld_ros.qos import SENSOR

    rclpy.init()
    node = rclpy.create_node("bench_sub")
    lat: list[float] = []
    sizes: set = set()

    def on_image(msg: Image) -> None:
        lat.append((time.time_ns() - stamp_to_ns(msg.header.stamp)) / 1e6)
        sizes.add((msg.width, msg.height, len(msg.data)))

    node.create_subscription(Image, "bench/image_raw", on_image, SENSOR)
    deadline, last_count, quiet_since = time.monotonic() + a.seconds + 20, 0, time.monotonic()
    while time.monotonic() < deadline and len(lat) < int(a.seconds * a.rate):
        rclpy.spin_once(node, timeout_sec=0.1)
        if len(lat) != last_count:
            last_count, quiet_since = len(lat), time.monotonic()
        elif lat and time.monotonic() - quiet_since > 2.0:  # the publisher has finished
            break
    print(json.dumps({"latency_ms": lat, "sizes": sorted(sizes)}), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()


def role_policy(a: argparse.Namespace) -> None:
    import rclpy
    from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
    from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor
    from sensor_msgs.msg import Image

    from meld_ros.images import join_cameras, stamp_to_ns, to_policy_frame
    from meld_ros.loop_monitor import LoopMonitor
    from meld_ros.qos import SENSOR

    rclpy.init()
    node = rclpy.create_node("bench_policy")
    images, loop_group = MutuallyExclusiveCallbackGroup(), MutuallyExclusiveCallbackGroup()
    newest: dict[str, Image] = {}
    lat: list[float] = []
    convert_ms: list[float] = []

    def on_image(cam: str):
        def cb(msg: Image) -> None:
            lat.append((time.time_ns() - stamp_to_ns(msg.header.stamp)) / 1e6)
            newest[cam] = msg
        return cb

    for cam in ("scene_camera", "wrist_camera"):
        node.create_subscription(Image, f"{cam}/image_raw", on_image(cam), SENSOR, callback_group=images)
    monitor = LoopMonitor("bench policy", 3.3, window=10_000)

    def on_tick() -> None:
        monitor.tick()
        if len(newest) == 2:
            t0 = time.perf_counter()
            obs = join_cameras(to_policy_frame(newest["scene_camera"]), to_policy_frame(newest["wrist_camera"]))
            assert obs.shape == (64, 128, 3)
            convert_ms.append((time.perf_counter() - t0) * 1e3)

    executor = MultiThreadedExecutor(num_threads=3) if a.executor == "multi" else SingleThreadedExecutor()
    executor.add_node(node)
    deadline = time.monotonic() + 20
    while len(newest) < 2:  # both cameras up before the loop is measured
        if time.monotonic() > deadline:
            sys.exit(f"bench_policy: images from {sorted(newest) or 'no camera'} only after 20 s")
        executor.spin_once(timeout_sec=0.1)
    lat.clear()
    node.create_timer(1.0 / 3.3, on_tick, callback_group=loop_group)
    end = time.monotonic() + a.seconds
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=0.1)
    jitter = np.abs(monitor.periods() - 1 / 3.3) * 1e3
    print(json.dumps({"jitter_ms": jitter.tolist(), "latency_ms": lat, "convert_ms": convert_ms}), flush=True)
    executor.shutdown()
    node.destroy_node()
    rclpy.try_shutdown()


# --- the orchestrator -------------------------------------------------------------------------
def env_for(profile: bool) -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    for k in ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE"):
        env.pop(k, None)
        if profile:
            env[k] = str(PROFILE)
    return env


def start(cmd: list[str], env: dict[str, str], log: Path | None = None) -> subprocess.Popen:
    out = open(log, "w") if log else subprocess.PIPE
    return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT if log else subprocess.PIPE,
                            text=True, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def me(role: str, a: argparse.Namespace, **kw) -> list[str]:
    args = dict(seconds=a.seconds, rate=a.rate, width=kw.get("width", 0), height=kw.get("height", 0))
    args.update(kw)
    return [sys.executable, __file__, "--role", role] + [f"--{k.replace('_', '-')}={v}" for k, v in args.items()]


def latency_case(a: argparse.Namespace, w: int, h: int, profile: bool) -> dict:
    env = env_for(profile)
    sub = start(me("sub", a, width=w, height=h), env)
    pub = start(me("pub", a, width=w, height=h), env)
    try:
        out, err = sub.communicate(timeout=a.seconds + 40)
    finally:
        stop(pub)
        stop(sub)
    try:
        res = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise SystemExit(f"subscriber gave no result; its stderr:\n{err}")
    lat = np.asarray(res["latency_ms"][10:])  # the first frames pay for discovery and warm-up
    sent = int(a.seconds * a.rate)
    return {"case": f"{w}x{h} rgb8 {'+ profile' if profile else 'default'}", "sent": sent,
            "received": len(res["latency_ms"]), "sizes": res["sizes"],
            "p50": float(np.percentile(lat, 50)) if lat.size else float("nan"),
            "p99": float(np.percentile(lat, 99)) if lat.size else float("nan"),
            "max": float(lat.max()) if lat.size else float("nan")}


def jitter_case(a: argparse.Namespace, publish_size: int = 0, executor: str = "multi") -> dict:
    import cv2
    tmp = Path(tempfile.mkdtemp(prefix="meld-bench-"))
    video = tmp / "cams.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 480))
    rng = np.random.default_rng(0)
    base = cv2.resize(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), (640, 480), interpolation=cv2.INTER_LINEAR)
    for i in range(30):
        writer.write(np.roll(base, 8 * i, axis=1))
    writer.release()
    env = env_for(True)
    cams = [start([sys.executable, "-m", "widowx_bringup.camera.node", "--ros-args", "-r", f"__node:={cam}",
                   "-p", f"device:={video}", "-p", "fps:=30.0", "-p", f"publish_size:={publish_size}"],
                  env, tmp / f"{cam}.log")
            for cam in ("scene_camera", "wrist_camera")]
    policy = start(me("policy", a, seconds=a.jitter_seconds, executor=executor), env)
    try:
        out, err = policy.communicate(timeout=a.jitter_seconds + 60)
    finally:
        stop(policy)
        for c in cams:
            stop(c)
    try:
        res = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        logs = "\n".join((tmp / f"{c}.log").read_text()[-2000:] for c in ("scene_camera", "wrist_camera"))
        raise SystemExit(f"policy process gave no result; its stderr:\n{err}\ncamera logs:\n{logs}")
    j, lat, conv = (np.asarray(res[k]) for k in ("jitter_ms", "latency_ms", "convert_ms"))
    return {"ticks": j.size + 1, "jitter_p50": float(np.percentile(j, 50)), "jitter_p99": float(np.percentile(j, 99)),
            "jitter_max": float(j.max()), "frames": lat.size, "cam_lat_p50": float(np.percentile(lat, 50)),
            "cam_lat_p99": float(np.percentile(lat, 99)), "convert_p50": float(np.percentile(conv, 50)),
            "convert_p99": float(np.percentile(conv, 99))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--role", default="bench", choices=["bench", "pub", "sub", "policy"])
    p.add_argument("--seconds", type=float, default=10.0, help="length of each latency case, s")
    p.add_argument("--rate", type=float, default=30.0, help="publish rate of the latency cases, Hz")
    p.add_argument("--jitter-seconds", type=float, default=30.0, help="length of the loop-jitter case, s")
    p.add_argument("--executor", default="multi", choices=["multi", "single"], help=argparse.SUPPRESS)
    p.add_argument("--width", type=int, default=0)
    p.add_argument("--height", type=int, default=0)
    a = p.parse_args()
    if a.role != "bench":
        {"pub": role_pub, "sub": role_sub, "policy": role_policy}[a.role](a)
        return
    if os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE") != "LOCALHOST" or "ROS_DOMAIN_ID" not in os.environ:
        sys.exit("DDS must stay on this machine: run `source scripts/env.sh` first "
                 "(sets ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and ROS_DOMAIN_ID)")
    print(f"domain {os.environ['ROS_DOMAIN_ID']}, {os.cpu_count()} CPUs, {a.seconds:g} s per latency case at {a.rate:g} Hz")
    print(f"{'case':<28}{'received':>12}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for w, h, prof in ((128, 64, False), (640, 480, True), (640, 480, False)):
        r = latency_case(a, w, h, prof)
        print(f"{r['case']:<28}{r['received']:>6}/{r['sent']:<5}{r['p50']:>9.2f}{r['p99']:>9.2f}{r['max']:>9.2f}", flush=True)
    print(f"3.3 Hz loop in a process receiving two camera_node streams at 30 Hz, {a.jitter_seconds:g} s each:")
    print(f"{'executor':<10}{'frames':<10}{'ticks':>6}{'jitter p50':>11}{'p99 ms':>8}{'max ms':>8}"
          f"{'cam lat p50':>12}{'p99 ms':>8}{'obs p50':>9}{'p99 ms':>8}")
    for executor, size in (("multi", 0), ("multi", 64), ("single", 0)):
        r = jitter_case(a, publish_size=size, executor=executor)
        frames = "640x480" if size == 0 else f"{size}x{size}"
        print(f"{executor:<10}{frames:<10}{r['ticks']:>6}{r['jitter_p50']:>11.2f}{r['jitter_p99']:>8.2f}"
              f"{r['jitter_max']:>8.2f}{r['cam_lat_p50']:>12.2f}{r['cam_lat_p99']:>8.2f}{r['convert_p50']:>9.2f}"
              f"{r['convert_p99']:>8.2f}", flush=True)
    print("(cam lat: capture stamp -> image callback in the loop's process; obs: two frames -> 64x128 observation)")

if __name__ == "__main__":
    main()
