"""How meld-train and meld-eval end on an error: one or two sentences and a non-zero exit; the
traceback only with --debug."""
from __future__ import annotations

import argparse
import sys
from typing import Callable


def run_reporting(prog: str, run: Callable[[argparse.Namespace], int], args: argparse.Namespace,
                  message: Callable[[BaseException], str], interrupted: str = "") -> int:
    """`run(args)`, with Ctrl-C as exit 130 (and `interrupted`'s advice) and any other error as
    `prog: message(exc)` on stderr and exit 1, unless `args.debug` asks for the traceback."""
    try:
        return run(args)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted{interrupted}", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"{prog}: {message(exc)}", file=sys.stderr)
        return 1


def generic_message(exc: BaseException) -> str:
    """An error the CLI has no better sentence for: its type and text, and where the traceback is."""
    return f"{type(exc).__name__}: {exc} (run again with --debug for the traceback)"
