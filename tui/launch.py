"""The `certdesk` command: the full-screen app with no arguments, the command line with any.

Kept free of Textual imports so that scripted use (`certdesk list`, `certdesk run`) starts
quickly and works where the app cannot.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    app_args = {"-a", "--account"}
    # `certdesk` or `certdesk -a DIR` opens the app; anything else is a command.
    if not args or (args[0] in app_args and len(args) == 2):
        try:
            from .app import run_app
        except ImportError as exc:  # the app is optional for scripted use
            print(f"certdesk: the terminal app is not available ({exc})", file=sys.stderr)
            from engine.cli import main as cli_main

            return cli_main(["--help"])
        return run_app(args[1] if args else None)
    from engine.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
