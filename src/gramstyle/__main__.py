"""``python -m gramstyle`` and the ``gramstyle`` console script.

:func:`entry` installs the signal handling before anything heavy is imported (the
package itself imports nothing at import time), so Ctrl-C or SIGTERM at any moment,
even while torch is being imported, ends in one line and exit 130 / 143.
"""

from __future__ import annotations


def entry() -> None:
    """Console-script entry point: ``sys.exit(cli.main())`` with no traceback ever."""
    import signal
    import sys

    from .errors import Terminated

    def terminate(signum, frame):
        raise Terminated

    signal.signal(signal.SIGTERM, terminate)
    try:
        from .cli import main

        code = main()
    except KeyboardInterrupt as e:  # arrived before main() had its own handling
        what = "terminated" if isinstance(e, Terminated) else "interrupted"
        print(f"gramstyle: {what}; no output written", file=sys.stderr)
        code = 143 if isinstance(e, Terminated) else 130
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away (gramstyle demo | head -0)
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(code)


if __name__ == "__main__":
    entry()
