"""A method is a registered object (``methods.METHODS``): given one call's ``Prelude`` it prepares an ``Editor``,
which edits one weight at a time.

The split follows the cost: ``Method.prepare`` does everything that does not depend on the layer (one
factorisation per call), ``Editor.edit`` only what does. An edit is returned as a ``KeyEdit``; everything after
it (the report's measurements, the deltas) reads the edit through ``KeyEdit.outputs`` and ``KeyEdit.dense``, so
a solver that returns its edit as factors needs only a ``KeyEdit`` of its own.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from torch import Tensor

from .lowrank import Factors, as_dense
from .nullspace import ProtectedSubspace
from .prelude import Prelude


@dataclass
class KeyEdit:
    """One weight's edit: ``delta = W - W0`` [n, d], dense or as exact ``Factors`` (``up @ down``, with a row scale
    of W0 after ScaPre's Bures step), and its statistics.

    ``mu``: the entropy weight it used (methods with one); ``top_channels``: over its Informax masks, (channels at
    the mask's top weight, channels), for the report's saturation figure; ``linear``: M [d, d] with ``delta = W0 M``
    where the edit is one linear map of W0 shared by every weight of the call (the same tensor for each), else None.
    """

    delta: Tensor | Factors
    mu: float | None = None
    top_channels: tuple[int, int] | None = None
    linear: Tensor | None = None

    def outputs(self, inputs: Tensor, weight: Tensor, base: Tensor | None = None) -> Tensor:
        """``delta @ inputs^T`` [n, N]: how the outputs of the rows of ``inputs`` [N, d] move (``weight``: the W0
        it edits; ``base``: ``weight @ inputs^T`` where the caller has it, so a row scale of W0 costs no product)."""
        if isinstance(self.delta, Factors):
            return self.delta.outputs(inputs, weight, base)
        return self.delta @ inputs.to(self.delta).T

    def norm(self, weight: Tensor) -> Tensor:
        """``|delta|_F`` (``weight``: the W0 it edits)."""
        return self.delta.norm(weight) if isinstance(self.delta, Factors) else self.delta.norm()

    def dense(self, weight: Tensor) -> Tensor:
        return as_dense(self.delta, weight)


class Editor(ABC):
    """A method prepared for one call: ``edit(key, W0)`` edits one weight [n, d] (solver dtype and device).

    ``protected``: the null space it keeps (None without); ``warnings``: what the report should tell the user
    about how it was prepared.
    """

    protected: ProtectedSubspace | None = None
    warnings: tuple[str, ...] = ()

    @abstractmethod
    def edit(self, key: str, weight: Tensor) -> KeyEdit:
        ...


class Method(ABC):
    """One recipe family's solver. Attributes, read by the prelude and the report:

    name: the config's ``method``; keeps_empty: ``""`` is one of its preserve prompts (UCE); full_rank: its edits
    are of full rank (saved exactly, never as a low-rank LoRA).
    """

    name: str
    keeps_empty: bool = False
    full_rank: bool = False

    @abstractmethod
    def prepare(self, prelude: Prelude) -> Editor:
        ...
