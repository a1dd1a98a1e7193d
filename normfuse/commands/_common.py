"""Checks shared by the sub-commands (no heavy imports: ``normfuse --help`` stays fast)."""

from __future__ import annotations

from pathlib import Path


def check_model_arg(model: str | None) -> None:
    """Refuse ``--model RUN`` when RUN is a training run folder, pointing at ``RUN/final``.

    ``normfuse train --out RUN`` writes the model to ``RUN/final`` (and checkpoints
    beside it); the run folder itself holds no ``config.json``.

    Raises:
        ValueError: ``model`` is such a run folder (the message says "did you mean RUN/final").

    Examples:
        >>> check_model_arg(None)        # the bundled weights
        >>> check_model_arg("org/repo")  # a hub id is left to the loader
    """
    if model is None:
        return
    p = Path(model)
    if p.is_dir() and not (p / "config.json").is_file() and (p / "final" / "config.json").is_file():
        raise ValueError(
            f"--model {model!r} is a training run folder, not a model folder (it has no config.json): "
            f"did you mean {str(p / 'final')!r}?"
        )


def missing_plot_extra() -> str | None:
    """The message for a missing matplotlib (``pip install 'normfuse[plot]'``), or ``None`` when it is installed."""
    import importlib.util

    try:
        found = importlib.util.find_spec("matplotlib") is not None
    except ValueError:  # sys.modules["matplotlib"] is None (import blocked)
        found = False
    if found:
        return None
    return "drawing feature maps needs matplotlib, which is not installed: pip install 'normfuse[plot]'"
