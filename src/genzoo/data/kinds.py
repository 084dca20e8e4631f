"""Data kinds: what sort of example a dataset holds, and everything that depends only on that.

A :class:`DataKind` owns what used to be ``if info.kind == ...`` branches spread over the
trainer, CLI, callbacks and bench: validating a split, turning stored rows into a training
:class:`~genzoo.data.base.Batch` (padding, masks), checking that other data can be scored by a
model trained on this data, and naming the networks its models are built from by default.
Pictures of each kind are drawn by the renderer registered under the same name in
:mod:`genzoo.viz.render` (the viz layer sits above data, so the link is the name).

Kinds registered here:

* ``image``: float ``(N, C, H, W)`` in ``info.value_range``;
* ``points``: float ``(N, D)`` (2-D toys, tabular data);
* ``sequence``: integer tokens ``(N, L)``, each row ``<bos> t_1 .. t_n <eos> <pad> ...``, the
  vocabulary in ``info.extras["vocab"]`` (index 0 is the padding token). Batches are trimmed
  to their longest row and carry a ``mask`` of real tokens.

Example:
    >>> from genzoo.data.kinds import DATA_KINDS
    >>> DATA_KINDS.get("sequence").default_nets["decoder"]
    'gru_decoder'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import torch
from torch import Tensor

from ..errors import GenzooError
from ..registry import Registry

if TYPE_CHECKING:
    from .base import Batch, Data, DataInfo

DATA_KINDS = Registry("data kind")

#: Index of the padding token in every sequence vocabulary (``nn.Embedding(padding_idx=0)``).
PAD = 0


class DataKind:
    """Base class: the behaviour shared by datasets whose examples are of one kind.

    Attributes:
        name: the registry name, stored as ``DataInfo.kind``.
        default_nets: role -> NETS name of the networks generic models of this kind use.
        float_data: whether examples are stored as floating point (else integer tokens).
    """

    name = ""
    default_nets: dict[str, str] = {}
    float_data = True

    def validate(self, x: Tensor, info: "DataInfo", split: str) -> None:
        """Raise :class:`GenzooError` (one sentence) when ``x`` is not a valid ``split`` of this kind."""
        if not torch.is_floating_point(x):
            raise GenzooError(f"{info.name}: {split} examples must be floating point, got {x.dtype}")
        if tuple(x.shape[1:]) != tuple(info.shape):
            raise GenzooError(f"{info.name}: {split} examples have shape {tuple(x.shape[1:])}, expected {tuple(info.shape)}")
        if x.numel() and not bool(torch.isfinite(x.sum())) and not bool(torch.isfinite(x).all()):  # the sum is a cheap first check
            raise GenzooError(f"{info.name}: {split} examples contain NaN or infinite values; clean the data first")

    def collate(self, x: Tensor, c: Tensor | None, info: "DataInfo") -> "Batch":
        """Stored rows ``x (B, ...)`` (already on the device) and labels -> a training batch."""
        from .base import Batch

        return Batch(x, c)

    def adapt(self, data: "Data", trained_on: "DataInfo") -> "Data":
        """``data`` made scoreable by a model trained on ``trained_on``, or a one-sentence error."""
        if tuple(trained_on.shape) != tuple(data.info.shape):
            raise GenzooError(
                f"the model was trained on examples of shape {tuple(trained_on.shape)}, "
                f"but the data given has {tuple(data.info.shape)}"
            )
        return data


@DATA_KINDS.register("image", help="float (C, H, W) images")
class ImageKind(DataKind):
    name = "image"
    default_nets = {"encoder": "conv", "decoder": "conv"}


@DATA_KINDS.register("points", help="float (D,) vectors: 2-D toys, tabular data")
class PointsKind(DataKind):
    name = "points"
    default_nets = {"encoder": "mlp", "decoder": "mlp"}


@DATA_KINDS.register("sequence", help="integer token sequences (L,) with a vocabulary, padded, with a mask")
class SequenceKind(DataKind):
    """Token sequences ``<bos> t_1 .. t_n <eos>`` padded with :data:`PAD` to a common length."""

    name = "sequence"
    default_nets = {"encoder": "gru_encoder", "decoder": "gru_decoder", "language_model": "lstm"}
    float_data = False

    def validate(self, x: Tensor, info: "DataInfo", split: str) -> None:
        vocab = info.extras.get("vocab")
        if not isinstance(vocab, (list, tuple)) or len(vocab) < 4:
            raise GenzooError(f"{info.name}: sequence data needs its vocabulary (pad, bos, eos and tokens) in info.extras['vocab']")
        if torch.is_floating_point(x) or x.dtype == torch.bool or x.dim() != 2:
            raise GenzooError(f"{info.name}: {split} sequences must be integer tokens of shape (N, L), got {x.dtype} {tuple(x.shape)}")
        if x.shape[1] != info.shape[0]:
            raise GenzooError(f"{info.name}: {split} sequences have length {x.shape[1]}, expected {info.shape[0]}")
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= len(vocab)):
            raise GenzooError(f"{info.name}: {split} sequences hold token ids outside the vocabulary of {len(vocab)} tokens")

    def collate(self, x: Tensor, c: Tensor | None, info: "DataInfo") -> "Batch":
        """Rows trimmed to the batch's longest, as int64, with the mask of real tokens.

        Reading the longest length is one host sync per batch; it pays for itself, since the
        recurrent networks then never run over columns that are padding in every row.
        """
        from .base import Batch

        mask = x != PAD  # (B, L) real tokens, <bos> and <eos> included
        longest = int(mask.sum(1).max()) if len(x) else 0
        return Batch(x[:, :longest].long(), c, mask=mask[:, :longest])

    def adapt(self, data: "Data", trained_on: "DataInfo") -> "Data":
        """Re-encode ``data`` in the vocabulary the model was trained with; a token outside it is an error."""
        from .base import Data

        old, new = list(data.info.extras.get("vocab", [])), list(trained_on.extras.get("vocab", []))
        if old == new:
            return data
        index = {t: i for i, t in enumerate(new)}
        missing = [t for t in old if t not in index]
        used = set()
        for x in (data.x_train, data.x_test):
            used |= set(torch.unique(x).tolist())
        unknown = [old[i] for i in sorted(used) if old[i] in missing]
        if unknown:
            raise GenzooError(
                f"{data.info.name} holds token(s) {', '.join(repr(t) for t in unknown[:5])} outside the vocabulary the "
                f"model was trained with ({len(new) - 3} tokens); evaluate on data of the same alphabet or retrain including it"
            )
        table = torch.tensor([index.get(t, PAD) for t in old], dtype=torch.long)
        extras = {**data.info.extras, "vocab": new}
        from dataclasses import replace

        info = replace(data.info, extras=extras)
        return Data(table[data.x_train.long()], table[data.x_test.long()], info, data.y_train, data.y_test)


def default_net(role: str) -> Callable[[Any], str]:
    """``info -> NETS name``: the data kind's default network for ``role`` (an ``auto`` choice of a model's network)."""

    def pick(info: Any) -> str:
        nets = kind_of(info).default_nets
        if role not in nets:
            raise GenzooError(f"{info.kind} data has no default {role} network; name one with --set model.<role>.type=NAME")
        return nets[role]

    pick.__doc__ = f"the data kind's default {role.replace('_', ' ')} network ({', '.join(f'{k.name}: {k.default_nets[role]}' for k in (DATA_KINDS.get(n)() for n in DATA_KINDS.names()) if role in k.default_nets)})."
    return pick


def kind_of(info: "DataInfo | Any") -> DataKind:
    """The :class:`DataKind` of data described by ``info`` (an unknown kind lists the known ones)."""
    return DATA_KINDS.get(info.kind)()
