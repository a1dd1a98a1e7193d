"""Sub-commands of the ``normfuse`` command line (one module each)."""

from . import align, evaluate, explain, export, fuse, train

COMMANDS = [fuse, train, evaluate, explain, export, align]
