"""Sharing work between processes started by ``torchrun`` (one or several machines).

``torchrun`` starts ``WORLD_SIZE`` copies of a command and gives each its
``RANK`` (and ``LOCAL_RANK`` on its machine) in the environment.  A command
that fuses many pairs takes the pairs of its own rank (``pairs[rank::world]``,
disjoint and together all of them) and adds its counts to the others' at the
end (:meth:`Ranks.all_reduce`, through torchrun's key-value store: no process
group and no GPU needed).  Without ``torchrun`` there is one rank and nothing is shared.

Examples:
    >>> r = Ranks.from_env({"RANK": "1", "WORLD_SIZE": "3", "LOCAL_RANK": "1"})
    >>> r.share(["a", "b", "c", "d", "e"])
    ['b', 'e']
    >>> Ranks.from_env({}).share(["a", "b"]), Ranks.from_env({}).all_reduce([2.0, 5.0])
    (['a', 'b'], [2.0, 5.0])
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

__all__ = ["Ranks"]

T = TypeVar("T")


@dataclass(frozen=True)
class Ranks:
    """This process's place among ``world`` processes (``rank`` 0 .. ``world - 1``)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Ranks:
        """Read ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` as ``torchrun`` sets them (default: one process).

        Raises:
            ValueError: the values are not integers or ``RANK`` is outside ``0 .. WORLD_SIZE - 1``.
        """
        env = os.environ if env is None else env
        try:
            world = int(env.get("WORLD_SIZE", "1"))
            rank = int(env.get("RANK", "0"))
            local = int(env.get("LOCAL_RANK", str(rank)))
        except ValueError as exc:
            raise ValueError(f"RANK, WORLD_SIZE and LOCAL_RANK must be integers: {exc}") from None
        if world < 1 or not 0 <= rank < world:
            raise ValueError(f"RANK={rank} with WORLD_SIZE={world}: need 0 <= RANK < WORLD_SIZE")
        return cls(rank, world, local)

    @property
    def many(self) -> bool:
        """More than one process."""
        return self.world > 1

    def share(self, items: Sequence[T]) -> list[T]:
        """This rank's items: every ``world``-th, starting at ``rank`` (disjoint; together all of them)."""
        return list(items[self.rank::self.world])

    def all_reduce(self, values: Sequence[float], op: str = "sum") -> list[float]:
        """``values`` summed (``op="sum"``) or maximised (``"max"``) over all ranks, on rank 0.

        With one rank the values come back unchanged.  Otherwise every rank puts
        its values in the key-value store torchrun's rendezvous provides
        (``MASTER_ADDR``, ``MASTER_PORT``; no process group, no GPU); rank 0 waits
        for all of them and gets the result, the other ranks get their own
        values back.  Keys are unique per call, so calls may repeat.
        """
        vals = [float(v) for v in values]
        if not self.many:
            return vals
        if op not in ("sum", "max"):
            raise ValueError(f"op must be 'sum' or 'max', got {op!r}")
        import json

        store = self._store()
        calls = self._cache["calls"] = self._cache.get("calls", 0) + 1
        run = os.environ.get("TORCHELASTIC_RUN_ID", ""), os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
        prefix = f"normfuse/{run[0]}/{run[1]}"
        key = f"{prefix}/{calls}"
        store.set(f"{key}/{self.rank}", json.dumps(vals))
        if self.rank > 0:
            return vals
        keys = [f"{key}/{r}" for r in range(self.world)]
        store.wait(keys)
        rows = [json.loads(store.get(k)) for k in keys]
        return [sum(col) if op == "sum" else max(col) for col in zip(*rows)]

    def agree(self, value: int) -> bool:
        """On rank 0: whether every rank passed the same ``value`` (an integer below 2**32, e.g. a checksum).

        The other ranks get ``True`` back (only rank 0 learns the answer), as does a single process.

        Examples:
            >>> Ranks.from_env({}).agree(12345)
            True
        """
        if not self.many:
            return True
        top = self.all_reduce([value], op="max")[0]
        total = self.all_reduce([value], op="sum")[0]
        return self.rank > 0 or total == top * self.world  # exact in float64 for values below 2**32

    def _store(self):
        if self._cache.get("store") is None:
            from datetime import timedelta

            import torch.distributed as dist

            store, _, _ = next(dist.rendezvous("env://", self.rank, self.world, timeout=timedelta(days=7)))
            self._cache["store"] = store
        return self._cache["store"]
