"""The one way every node process starts and stops.

On Jazzy `with rclpy.init():` raises, and rclpy's own SIGINT handler shuts the context down
before a node can say goodbye, so a bridge could not send its last zero velocity. Here SIGINT and
SIGTERM only ask the spin loop to end; then the node's `on_shutdown()` runs while the context is
still valid (a bridge publishes zeros, a policy finishes its episode file), then everything is
destroyed and rclpy shut down. Executor threads are joined before exit. A node may define
`request_stop()` to end waits inside its callbacks first, and `on_shutdown()` for its last words;
a node whose `failed` attribute is set when it stops exits with code 1.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.signals import SignalHandlerOptions


def run_node(make_node: Callable[[], "rclpy.node.Node"], args: list[str] | None = None, threads: int = 1) -> int:
    """Build the node, spin it until SIGINT/SIGTERM or shutdown, clean up; returns the exit code.

    The default is a single-threaded executor. Measured here (benchmarks/ros_latency.py and the
    graph's loop diagnostics), rclpy 7.1's multi-threaded executor let a 100 Hz timer slip to
    74 Hz with 100 ms period jitter and delayed a 3.3 Hz timer by up to 180 ms once images
    arrived; single-threaded, the same loops hold their rates within a few ms. It also keeps an
    OpenGL (EGL) context on the one thread it was made current on. Waits inside callbacks are
    coroutines (see the PID bridge's home service) or live on a worker thread (the trainer)."""
    rclpy.init(args=sys.argv if args is None else args, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()

    def request_stop(signum, frame):  # noqa: ARG001
        stop.set()

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    node = None
    executor = SingleThreadedExecutor() if threads == 1 else MultiThreadedExecutor(num_threads=threads)
    code = 0
    spin_error: list[BaseException] = []
    spinner: threading.Thread | None = None

    def spin() -> None:
        try:
            executor.spin()
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        except BaseException as exc:  # a callback raised: end the node, report it below
            spin_error.append(exc)
        finally:
            stop.set()

    try:
        node = make_node()
        executor.add_node(node)
        # spin() on its own thread: spin_once() from a loop stalls a busy mutually exclusive
        # callback group until its timeout, and the main thread must stay free for signals.
        spinner = threading.Thread(target=spin, name="executor", daemon=True)
        spinner.start()
        while not stop.is_set():
            stop.wait(0.2)
        if spin_error:
            raise spin_error[0]
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception as exc:  # a node that cannot start says why, once, and exits non-zero
        if node is not None:
            node.get_logger().fatal(f"{type(exc).__name__}: {exc}")
        else:
            print(f"[fatal] {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        if node is not None and hasattr(node, "request_stop"):
            node.request_stop()  # end long waits inside callbacks (a homing service, a worker thread)
        executor.shutdown(timeout_sec=5.0)  # no callback runs after this: on_shutdown has the last word
        if spinner is not None:
            spinner.join(timeout=5.0)
        if node is not None and hasattr(node, "on_shutdown"):
            try:
                node.on_shutdown()
                time.sleep(0.05)  # let the last messages leave
            except Exception as exc:  # shutdown must go on
                print(f"[shutdown] {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
        for s, handler in previous.items():
            signal.signal(s, handler)
    if node is not None and getattr(node, "failed", None):
        code = 1
    return code


def stop_process() -> None:
    """Ask this node process to stop, as SIGTERM would (from a worker thread that is done or failed)."""
    os.kill(os.getpid(), signal.SIGTERM)
