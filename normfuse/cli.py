"""The ``normfuse`` command line: ``normfuse fuse``, ``normfuse train``, ``normfuse evaluate``.

Each sub-command lives in :mod:`normfuse.commands` as a module with
``add_parser(subparsers)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings

from ._version import __version__
from .commands import COMMANDS

__all__ = ["main", "build_parser", "plain_text"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="normfuse", description="Infrared and visible image fusion with NormFuse.")
    parser.add_argument("--version", action="version", version=f"normfuse {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.add_parser(sub)
    for p in sub.choices.values():  # the commands' docstrings are reST; --help shows plain text
        p.description, p.epilog = plain_text(p.description), plain_text(p.epilog)
        for action in p._actions:
            action.help = plain_text(action.help)
    return parser


def plain_text(text: str | None) -> str | None:
    r"""reST of a docstring as plain text for ``--help``: no double-backquote marks, ``Examples::`` -> ``Examples:``.

    Examples:
        >>> print(plain_text("``normfuse fuse``: see :class:`~normfuse.NormFuser`.\n\nExamples::\n\n    x"))
        normfuse fuse: see NormFuser.
        <BLANKLINE>
        Examples:
        <BLANKLINE>
            x
    """
    if not text:
        return text
    text = re.sub(r":[a-z]+:`~?(?:[\w.]+\.)?([^`]+)`", r"\1", text)  # :class:`~a.b.C` -> C
    text = re.sub(r"``(.+?)``", r"\1", text, flags=re.S)
    return re.sub(r"(\S)::$", r"\1:", text, flags=re.M)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code (0 success, 1 some inputs failed, 2 usage error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    def show_warning(message, category, filename, lineno, file=None, line=None):  # one clean line per warning
        print(f"normfuse {args.command}: warning: {message}", file=sys.stderr, flush=True)

    try:
        with warnings.catch_warnings():
            warnings.showwarning = show_warning
            return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError, TypeError) as exc:
        print(f"normfuse {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
