"""meld-rig-emulator: a GRBL 1.1h board on a pseudo-terminal, for tests and the simulator.

Usage:
    meld-rig-emulator                                 # prints the /dev/pts/N it opened
    meld-rig-emulator --link /tmp/meld_rig --speedup 20
    meld-rig-emulator --link /tmp/meld_rig --garbage-rate 0.1 --drop-rate 0.001
    meld-rig-emulator --link /tmp/meld_rig --unplug-after 5 --replug-after 2
    meld-rig-emulator --link /tmp/meld_rig --factory-settings --stock-homing

The board starts with the rig settings (``--settings``, default the packaged YAML) in its
EEPROM, locked until homed. While running: SIGUSR1 unplugs the port for 2 s (a USB cable
pulled and put back: new pty, same link, power-cycled board); SIGUSR2 makes the next move
stop halfway with ALARM:1. Stops on SIGINT/SIGTERM and removes the link; with
``--wait-for-clients S``, SIGINT stops it only once the processes that had the port open then have
ended (at most S seconds later): a Ctrl-C in a terminal reaches a launched graph's rig node and
this emulator at once, and the node's last commands and its closing of the port still find the
board there.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Optional

from .emulator import MachineModel
from .emulator_pty import PtyEmulator
from .settings import load_rig_settings


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="meld-rig-emulator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--link", default="", help="make a symlink to the pty here (kept across replugs)")
    parser.add_argument("--speedup", type=float, default=1.0, help="run motion K times faster than real time")
    parser.add_argument("--settings", default="", help="rig settings YAML whose grbl: block seeds the EEPROM")
    parser.add_argument("--factory-settings", action="store_true", help="start with GRBL 1.1h defaults instead")
    parser.add_argument("--stock-homing", action="store_true",
                        help="home Z first like a stock build (fails with ALARM:9: the rig has no Z switch)")
    parser.add_argument("--drop-rate", type=float, default=0.0, help="probability of losing each byte sent")
    parser.add_argument("--garble-rate", type=float, default=0.0, help="probability of corrupting each line sent")
    parser.add_argument("--garbage-rate", type=float, default=0.0, help="probability of a noise line before each line")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault injection")
    parser.add_argument("--silent-after", type=float, default=None, help="stop answering after S seconds")
    parser.add_argument("--unplug-after", type=float, default=None, help="unplug the port after S seconds")
    parser.add_argument("--replug-after", type=float, default=None, help="...and plug it back S seconds later")
    parser.add_argument("--alarm-mid-move", type=int, default=None, metavar="N",
                        help="the first move stops halfway with ALARM:N (1: hard limit)")
    parser.add_argument("--wait-for-clients", type=float, default=0.0, metavar="S",
                        help="on SIGINT, keep serving until the processes that have the port open have ended, "
                             "at most S seconds (SIGTERM stops at once)")
    args = parser.parse_args(argv)
    for name in ("drop_rate", "garble_rate", "garbage_rate"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            parser.error(f"--{name.replace('_', '-')} must be within [0, 1]")
    if args.speedup <= 0:
        parser.error("--speedup must be positive")
    settings = None if args.factory_settings else load_rig_settings(args.settings).grbl
    machine = MachineModel(homing_cycles=("Z", "XY") if args.stock_homing else ("XY",))

    def announce(path: str) -> None:
        link = f" (link {args.link})" if args.link else ""
        print(f"meld-rig-emulator: GRBL 1.1h on {path}{link}, speedup {args.speedup:g}", flush=True)

    if args.link:  # a run folder that does not exist yet (a graph's first run)
        Path(args.link).parent.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    interrupted = threading.Event()
    emu = PtyEmulator(link=args.link or None, speedup=args.speedup, settings=settings, machine=machine,
                      drop_rate=args.drop_rate, garble_rate=args.garble_rate, garbage_rate=args.garbage_rate,
                      seed=args.seed, on_path=announce)
    emu.firmware.alarm_mid_move = args.alarm_mid_move
    signal.signal(signal.SIGINT, lambda *_: (stop if args.wait_for_clients <= 0 else interrupted).set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGUSR1, lambda *_: emu.unplug(replug_after_s=2.0))

    def arm_alarm(*_: object) -> None:
        emu.firmware.alarm_mid_move = 1
    signal.signal(signal.SIGUSR2, arm_alarm)
    start = time.monotonic()
    stop_by: Optional[float] = None
    clients: set[int] = set()
    seen_at = 0.0
    with emu:
        while not stop.wait(0.05):
            if args.wait_for_clients > 0 and stop_by is None and time.monotonic() - seen_at > 2.0:
                # Noted while running too: a client that closes the port quickly on the same Ctrl-C
                # (before this loop gets to run on a loaded machine) is still waited for.
                clients, seen_at = set(_port_clients(emu.path)) if emu.path else set(), time.monotonic()
            if interrupted.is_set():
                if stop_by is None:
                    stop_by = time.monotonic() + args.wait_for_clients
                    clients |= set(_port_clients(emu.path)) if emu.path else set()
                clients = {pid for pid in clients if _running(pid)}
                if not clients or time.monotonic() >= stop_by:
                    break
            now = time.monotonic() - start
            if args.silent_after is not None and now >= args.silent_after and not emu.firmware.silent:
                print("meld-rig-emulator: firmware silent from now on", flush=True)
                emu.firmware.silent = True
            if args.unplug_after is not None and now >= args.unplug_after:
                args.unplug_after = None
                print("meld-rig-emulator: port unplugged", flush=True)
                emu.unplug(replug_after_s=args.replug_after)
    print("meld-rig-emulator: stopped", flush=True)
    return 0


def _port_clients(path: str) -> list[int]:
    """Other processes that have the pty `path` open (from /proc; this process holds its slave side)."""
    clients = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) == os.getpid():
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:  # gone, or not ours to read
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == path:
                    clients.append(int(pid))
                    break
            except OSError:  # closed meanwhile
                continue
    return clients


def _running(pid: int) -> bool:
    """Whether `pid` is still there, a zombie included: the emulator outlasts a client until the client's
    parent (the launch system) has collected it, so the launch reports the rig node's end before its own."""
    return os.path.exists(f"/proc/{pid}")


if __name__ == "__main__":
    sys.exit(main())
