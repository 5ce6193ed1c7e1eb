"""meld-rig: bring the reset rig up by hand (GRBL on a USB serial port, or the emulator).

Usage:
    meld-rig --port /dev/meld_rig settings            # show $$ and compare with the rig settings
    meld-rig --port /dev/meld_rig settings --apply    # write the rig settings to the EEPROM
    meld-rig --port /dev/meld_rig home                # $H, then print the measured pose
    meld-rig --port /dev/meld_rig goto-task 7         # move to task 7, print the measured pose
    meld-rig --port /dev/meld_rig goto-task all --home   # home, visit all 30 tasks, print the worst error
    meld-rig --port /dev/meld_rig status              # one status report, decoded

Against the emulator:  meld-rig-emulator --link /tmp/meld_rig --speedup 20 &
                       meld-rig --port /tmp/meld_rig goto-task all --home
Exit status: 0 success, 1 a rig or GRBL error (the message says what to do), 2 bad usage.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Optional

from .client import GrblClient, GrblError
from .rig import Arrival, Rig
from .settings import load_rig_settings, setting_name
from .tasks import load_tasks


def _print_arrival(a: Arrival) -> None:
    task = f"task {a.task.id} ({a.task.split})" if a.task else "target"
    print(f"{task}: target X={a.target_x_mm:.3f} mm Y={a.target_y_deg:.3f} deg; "
          f"measured X={a.pose.x_mm:.3f} mm Y={a.pose.y_deg:.3f} deg "
          f"(translation {a.pose.translation_mm:+.3f} mm, rotation {a.pose.rotation_deg:+.3f} deg); "
          f"error {a.error_mm:.3f} mm {a.error_deg:.3f} deg; {a.seconds:.2f} s", flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="meld-rig", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", required=True, help="serial port or link, e.g. /dev/meld_rig")
    parser.add_argument("--baud", type=int, default=115200, help="GRBL 1.1 runs at 115200")
    parser.add_argument("--settings", default="", help="rig settings YAML (default: the packaged one)")
    parser.add_argument("--tasks", default="", help="task poses YAML (default: the packaged one)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every line exchanged")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("home", help="home both axes ($H)")
    goto = sub.add_parser("goto-task", help="move to task poses and print the measured pose")
    goto.add_argument("task", nargs="+", help="task ids, or 'all'")
    goto.add_argument("--home", action="store_true", help="home first")
    sub.add_parser("status", help="print one decoded status report")
    settings = sub.add_parser("settings", help="print $$ and compare it with the rig settings")
    settings.add_argument("--apply", action="store_true", help="write the rig settings that differ")
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        rig_settings = load_rig_settings(args.settings)
        tasks = load_tasks(rig_settings, args.tasks)
        ids: list[int] = []
        if args.command == "goto-task":
            ids = tasks.ids if args.task == ["all"] else [int(t) for t in args.task]
            for task_id in ids:
                tasks[task_id]                       # unknown ids fail before the port is opened
    except (ValueError, KeyError) as exc:
        print(f"meld-rig: error: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return 2
    client = GrblClient(args.port, args.baud, connect_timeout=rig_settings.connect_timeout_s,
                        reply_timeout=rig_settings.reply_timeout_s, status_timeout=rig_settings.status_timeout_s)
    rig = Rig(client, rig_settings, tasks)
    try:
        if args.command == "settings":
            client.connect()
            firmware = client.read_settings()
            for number in sorted(firmware):
                want = rig_settings.grbl.get(number)
                mark = "" if want is None or abs(want - firmware[number]) <= 1e-3 else f"   <- rig needs {want:g}"
                print(f"${number}={firmware[number]:g}\t{setting_name(number)}{mark}")
            if args.apply:
                written = rig.check_settings(apply=True)
                print("wrote " + (", ".join(written) if written else "nothing: all settings already match"))
            else:
                problems = rig_settings.mismatches(firmware)
                print("settings match the rig" if not problems else
                      f"{len(problems)} setting(s) differ; write them with --apply")
            return 0
        rig.connect()
        if args.command == "status":
            report = client.status()
            pose = rig.pose()
            print(f"state {report.state} ({pose.state}); machine X={pose.x_mm:.3f} mm Y={pose.y_deg:.3f} deg; "
                  f"task space translation {pose.translation_mm:+.3f} mm rotation {pose.rotation_deg:+.3f} deg; "
                  f"homed: {'yes' if rig.homed else 'no'}; pins: {report.pins or '-'}; "
                  f"last alarm: {client.alarm or '-'}; GRBL {client.version}")
            return 0
        if args.command == "home" or (args.command == "goto-task" and args.home):
            pose = rig.home()
            print(f"homed: X={pose.x_mm:.3f} mm Y={pose.y_deg:.3f} deg", flush=True)
        if args.command == "goto-task":
            worst_mm = worst_deg = 0.0
            for task_id in ids:
                arrival = rig.goto_task(task_id)
                _print_arrival(arrival)
                worst_mm, worst_deg = max(worst_mm, arrival.error_mm), max(worst_deg, arrival.error_deg)
            if len(ids) > 1:
                print(f"worst error over {len(ids)} tasks: {worst_mm:.4f} mm, {worst_deg:.4f} deg "
                      f"(tolerance {rig_settings.tolerance_mm} mm, {rig_settings.tolerance_deg} deg)")
        return 0
    except GrblError as exc:
        print(f"meld-rig: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("meld-rig: interrupted; sending feed hold", file=sys.stderr)
        try:
            client.feed_hold()
        except GrblError:
            pass
        return 130
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
