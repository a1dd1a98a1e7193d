"""Sub-commands of the ``normfuse`` command line (one module each)."""

from . import fuse, train

COMMANDS = [fuse, train]
