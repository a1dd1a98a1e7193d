"""Sub-commands of the ``normfuse`` command line (one module each)."""

from . import explain, fuse, train

COMMANDS = [fuse, train, explain]
