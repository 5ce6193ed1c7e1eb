"""meld-rig: bring the reset rig up by hand (GRBL on a USB serial port, or the emulator).

Usage:
    meld-rig --port /dev/meld_rig settings            # show $$ and compare with the rig settings
    meld-rig --port /dev/meld_rig settings --apply    # write the rig settings to the EEPROM
    meld-rig --port /dev/meld_rig home                # $H, then print the measured pose
    meld-rig --port /dev/meld_rig goto-task 7 --home  # home, move to task 7, print the measured pose
    meld-rig --port /dev/meld_rig goto-task all --home   # home, visit all 30 tasks, print the worst error
    meld-rig --port /dev/meld_rig status              # one status report, decoded (any settings)

Each command resets GRBL when it connects (a real Uno even restarts when its port opens), so
a rig homed by an earlier command is not known to be homed: `goto-task` needs `--home`.

Against the emulator:  meld-rig-emulator --link /tmp/meld_rig --speedup 20 &
                       meld-rig --port /tmp/meld_rig goto-task all --home
Exit status: 0 success, 1 a rig or GRBL error (the message says what to do), 2 bad usage.
--debug adds the traceback to an error message.
"""
from __future__ import annotations

import argparse
import logging
import sys
import traceback
from typing import Optional

from .client import GrblClient, GrblError
from .rig import Arrival, NotHomedError, Rig
from .settings import RELIED_ON, RigSettings, load_rig_settings, setting_name
from .tasks import TaskSet, load_tasks


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
    parser.add_argument("-v", "--verbose", action="store_true", help="log every line exchanged, and warnings")
    parser.add_argument("--debug", action="store_true", help="print the traceback with an error")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("home", help="home both axes ($H)")
    goto = sub.add_parser("goto-task", help="move to task poses and print the measured pose")
    goto.add_argument("task", nargs="+", help="task ids, or 'all'")
    goto.add_argument("--home", action="store_true", help="home first (needed: see above)")
    sub.add_parser("status", help="print one decoded status report")
    settings = sub.add_parser("settings", help="print $$ and compare it with the rig settings")
    settings.add_argument("--apply", action="store_true", help="write the rig settings that differ")
    return parser


def _task_ids(args: argparse.Namespace, tasks: TaskSet) -> list[int]:
    """The ids to visit, checked before the port is opened."""
    if args.task == ["all"]:
        return list(tasks.ids)
    ids = []
    for text in args.task:
        try:
            ids.append(int(text))
        except ValueError:
            raise ValueError(f"task {text!r} is not a task id; give ids such as 3 12 or 'all'") from None
        tasks[ids[-1]]                             # unknown ids raise KeyError with the valid range
    return ids


def _settings_report(client: GrblClient, rig_settings: RigSettings, apply: bool, rig: Rig) -> None:
    firmware = client.read_settings()
    differing = rig_settings.differing(firmware)
    for number in sorted(set(firmware) | set(differing)):
        have = f"{firmware[number]:g}" if number in firmware else "(missing)"
        mark = f"   <- rig needs {rig_settings.grbl[number]:g}" if number in differing else ""
        print(f"${number}={have}\t{setting_name(number)}{mark}")
    if apply:
        written = rig.check_settings(apply=True)
        print("wrote " + (", ".join(written) if written else "nothing: all settings already match"))
    elif not differing:
        print("settings match the rig")
    else:
        relied = [n for n in differing if n in RELIED_ON]
        print(f"{len(differing)} setting(s) differ from the rig's ({len(relied)} of them checked on every "
              "connect); write them with --apply")


def _status_report(client: GrblClient, rig_settings: RigSettings, rig: Rig) -> None:
    """A diagnostic: runs whatever the settings, and says how they differ."""
    report = client.status()
    pose = rig.pose()
    problems = rig_settings.mismatches(client.read_settings())
    print(f"state {report.state} ({pose.state}); machine X={pose.x_mm:.3f} mm Y={pose.y_deg:.3f} deg; "
          f"task space translation {pose.translation_mm:+.3f} mm rotation {pose.rotation_deg:+.3f} deg; "
          f"locked: {'yes' if client.locked or report.state == 'Alarm' else 'no'}; "
          f"homed: not known to this command (it reset GRBL on connecting); pins: {report.pins or '-'}; "
          f"last alarm: {client.alarm or '-'}; GRBL {client.version}")
    if problems:
        print(f"settings: {len(problems)} differ from the rig's, so moves are refused: " + "; ".join(problems)
              + ". Write them with `settings --apply`")
    else:
        print("settings match the rig")


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    # The library's log lines repeat what the one error message says; -v shows every exchange.
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.CRITICAL,
                        format="%(levelname)s %(name)s: %(message)s")

    def fail(message: str, code: int) -> int:
        if args.debug:
            traceback.print_exc()
        print(f"meld-rig: error: {message}", file=sys.stderr)
        return code

    try:
        if args.baud <= 0:
            raise ValueError(f"--baud {args.baud} is not a baud rate; GRBL 1.1 talks at 115200")
        rig_settings = load_rig_settings(args.settings)
        tasks = load_tasks(rig_settings, args.tasks)
        ids = _task_ids(args, tasks) if args.command == "goto-task" else []
    except KeyError as exc:
        return fail(str(exc.args[0]), 2)
    except ValueError as exc:
        return fail(str(exc), 2)
    client = GrblClient(args.port, args.baud, connect_timeout=rig_settings.connect_timeout_s,
                        reply_timeout=rig_settings.reply_timeout_s, status_timeout=rig_settings.status_timeout_s)
    rig = Rig(client, rig_settings, tasks)
    try:
        if args.command in ("settings", "status"):
            client.connect()
            if args.command == "settings":
                _settings_report(client, rig_settings, args.apply, rig)
            else:
                _status_report(client, rig_settings, rig)
            return 0
        rig.connect()
        if args.command == "home" or (args.command == "goto-task" and args.home):
            pose = rig.home()
            print(f"homed: X={pose.x_mm:.3f} mm Y={pose.y_deg:.3f} deg", flush=True)
        worst_mm = worst_deg = 0.0
        for task_id in ids:
            arrival = rig.goto_task(task_id)
            _print_arrival(arrival)
            worst_mm, worst_deg = max(worst_mm, arrival.error_mm), max(worst_deg, arrival.error_deg)
        if len(ids) > 1:
            print(f"worst error over {len(ids)} tasks: {worst_mm:.4f} mm, {worst_deg:.4f} deg "
                  f"(tolerance {rig_settings.tolerance_mm} mm, {rig_settings.tolerance_deg} deg)")
        return 0
    except NotHomedError:
        return fail(f"the rig is not homed, so the move was not sent: each meld-rig command resets GRBL when it "
                    f"connects and cannot know an earlier homing. Add --home: `meld-rig --port {args.port} "
                    f"goto-task {' '.join(args.task)} --home`", 1)
    except GrblError as exc:
        return fail(str(exc), 1)
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
