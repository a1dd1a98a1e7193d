"""Training NormFuse models: settings (:mod:`.config`), data (:mod:`.data`), losses (:mod:`.losses`),
one step (:mod:`.step`), the run folder (:mod:`.checkpoint`), processes (:mod:`.distributed`) and
the loop (:mod:`.loop`).

Examples:
    >>> from normfuse.train import TrainConfig
    >>> TrainConfig(data=["pairs/"]).total_epochs
    125
"""

from .config import TrainConfig

__all__ = ["TrainConfig", "train"]


def __getattr__(name: str):
    if name == "train":  # the loop imports torch; the settings do not
        from .loop import train

        return train
    raise AttributeError(f"module 'normfuse.train' has no attribute {name!r}")
