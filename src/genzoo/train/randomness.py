"""The random draws a loss makes, seen from outside: recorded, replayed per member, or sharded.

Two ways of training several copies of one computation must draw the noise a single run
would draw, or they would not be the runs they claim to be:

- a *vmapped sweep* trains N seeds as one stacked model. Inside ``torch.func.vmap`` a call
  ``torch.randn(B, d)`` is one call for all members, but member ``i`` must get exactly what
  ``torch.randn(B, d)`` returns in a separate run seeded ``seed_i``. :class:`Record` notes the
  draws of one update (their kinds and logical shapes); before every update the sweep draws
  each of them from every member's own generator (:func:`draw_bank`), and :class:`Replay`
  hands member ``i`` its row inside vmap.
- *data-parallel processes* (DDP) each see ``B / world`` examples of a global batch ``B``.
  :class:`Shard` turns a per-example draw ``torch.randn(B / world, d)`` into the draw a
  single process would make, ``torch.randn(B, d)`` (every process keeps the same generator
  state), and keeps this process's rows. A run is then a function of the global batch, not of
  the number of processes: ``world`` processes equal one process with the whole batch, and a
  checkpoint resumes at any world size.

Only the factories whose output depends on nothing but a shape are redrawn (``randn``,
``rand``, ``randint``, ``randperm`` and their ``_like`` forms) and ``bernoulli(p)``, which on
the CPU is ``rand_like(p) < p`` draw for draw. Other random operations (``multinomial``,
dropout, in-place ``normal_``...) are left alone and listed by :attr:`Record.others`, so the
caller can say the runs are independent but not draw-for-draw equal to separate ones.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode

from ..errors import GenzooError

# random operations that are not redrawn (value-dependent, or in place)
OTHER_RANDOM = {
    torch.normal, torch.multinomial, torch.poisson,
    F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout, F.feature_alpha_dropout, F.gumbel_softmax,
    F.rrelu, Tensor.normal_, Tensor.uniform_, Tensor.bernoulli_, Tensor.random_, Tensor.exponential_,
    Tensor.geometric_, Tensor.cauchy_, Tensor.log_normal_, Tensor.bernoulli, Tensor.multinomial,
}


@dataclass(frozen=True)
class Draw:
    """One random draw of a loss, by what it needs: a kind, a logical shape, dtype and device.

    Attributes:
        kind: ``normal``, ``uniform``, ``int`` (in ``[low, high)``), ``perm`` (of ``high``) or
            ``bernoulli`` (stored as uniforms; the caller compares them with its ``p``).
    """

    kind: str
    shape: tuple[int, ...]
    dtype: torch.dtype
    device: torch.device
    low: int = 0
    high: int = 0

    def sample(self, gen: torch.Generator | None = None, shape: tuple[int, ...] | None = None) -> Tensor:
        """Draw from ``gen`` (``None``: the global generator), of ``shape`` (default: the draw's)."""
        shape = self.shape if shape is None else shape
        kw: dict[str, Any] = {"generator": gen, "device": self.device}
        if self.kind == "normal":
            return torch.randn(shape, dtype=self.dtype, **kw)
        if self.kind in ("uniform", "bernoulli"):
            return torch.rand(shape, dtype=self.dtype, **kw)
        if self.kind == "int":
            return torch.randint(self.low, self.high, shape, dtype=self.dtype, **kw)
        return torch.randperm(self.high, dtype=self.dtype, **kw)

    def result(self, drawn: Tensor, args: tuple[Any, ...]) -> Tensor:
        """What the intercepted call returns, given ``drawn`` from :meth:`sample`."""
        if self.kind == "bernoulli":
            p = args[0]
            return (drawn < p).to(p.dtype)  # torch.bernoulli(p) on the CPU, draw for draw
        return drawn


def _size(args: Sequence[Any], kwargs: dict[str, Any]) -> tuple[int, ...]:
    if "size" in kwargs:
        s = kwargs["size"]
    elif len(args) == 1 and isinstance(args[0], (tuple, list, torch.Size)):
        s = args[0]
    else:
        s = args
    return tuple(int(v) for v in s)


def _opts(kwargs: dict[str, Any], dtype: torch.dtype, like: Tensor | None = None) -> tuple[torch.dtype, torch.device]:
    dev = kwargs.get("device")
    if dev is None:
        dev = like.device if like is not None else torch.empty(0).device  # the default device
    return kwargs.get("dtype") or (like.dtype if like is not None else dtype), torch.device(dev)


def _int_bounds(args: Sequence[Any]) -> tuple[int, int, Sequence[Any]]:
    """``(high, size)`` or ``(low, high, size)`` -> ``(low, high, rest)``."""
    if len(args) >= 2 and not isinstance(args[1], (tuple, list, torch.Size)):
        return int(args[0]), int(args[1]), args[2:]
    return 0, int(args[0]), args[1:]


def parse(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Draw | None:
    """The :class:`Draw` a call makes, or ``None`` if it is not a redrawable random factory."""
    if kwargs.get("generator") is not None:  # the model drives its own generator: leave it be
        return None
    if kwargs.get("out") is not None or kwargs.get("layout") not in (None, torch.strided):
        return None
    fdt = torch.get_default_dtype()
    if func is torch.randn or func is torch.rand:
        dt, dev = _opts(kwargs, fdt)
        return Draw("normal" if func is torch.randn else "uniform", _size(args, kwargs), dt, dev)
    if func is torch.randn_like or func is torch.rand_like:
        x = args[0]
        if not x.is_contiguous():  # _like keeps strides; only the contiguous case is draw-for-draw
            return None
        dt, dev = _opts(kwargs, fdt, x)
        return Draw("normal" if func is torch.randn_like else "uniform", tuple(x.shape), dt, dev)
    if func is torch.randint:
        low, high, rest = _int_bounds(args)
        dt, dev = _opts(kwargs, torch.int64)
        return Draw("int", _size(rest, kwargs), dt, dev, low, high)
    if func is torch.randint_like:
        x = args[0]
        low, high = (0, int(args[1])) if len(args) == 2 else (int(args[1]), int(args[2]))
        if not x.is_contiguous():
            return None
        dt, dev = _opts(kwargs, fdt, x)
        return Draw("int", tuple(x.shape), dt, dev, low, high)
    if func is torch.randperm:
        dt, dev = _opts(kwargs, torch.int64)
        return Draw("perm", (int(args[0]),), dt, dev, 0, int(args[0]))
    if func is torch.bernoulli and len(args) == 1 and isinstance(args[0], Tensor) and not kwargs:
        p = args[0]
        if p.device.type != "cpu" or not p.is_floating_point():  # the identity is the CPU kernel's
            return None
        return Draw("bernoulli", tuple(p.shape), p.dtype, p.device)
    return None


class _Intercept(TorchFunctionMode):
    """Route random factories through :meth:`handle`; everything else runs unchanged."""

    def __init__(self) -> None:
        super().__init__()
        self.others: set[str] = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        draw = parse(func, args, kwargs) if func in _FACTORIES else None
        if draw is None:
            if func in OTHER_RANDOM:
                self.others.add(getattr(func, "__name__", str(func)))
            return func(*args, **kwargs)
        return self.handle(draw, func, args, kwargs)

    def handle(self, draw: Draw, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return func(*args, **kwargs)


_FACTORIES = {torch.randn, torch.rand, torch.randint, torch.randperm, torch.randn_like, torch.rand_like,
              torch.randint_like, torch.bernoulli}


class Record(_Intercept):
    """Note every redrawable draw (in order) while drawing normally; ``others`` lists the rest."""

    def __init__(self) -> None:
        super().__init__()
        self.draws: list[Draw] = []

    def handle(self, draw: Draw, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        self.draws.append(draw)
        return func(*args, **kwargs)


def draw_bank(plan: Sequence[Draw], gens: Sequence[dict[str, torch.Generator]]) -> list[Tensor]:
    """Every draw of ``plan`` from every member's generators: ``[(N, *draw.shape)]``.

    ``gens[i]`` maps a device type (``cpu``, ``cuda``) to member ``i``'s generator there, which
    advances exactly as the global one of a separate run seeded like member ``i``.
    """
    return [torch.stack([d.sample(g[d.device.type]) for g in gens]) for d in plan]


class Replay(_Intercept):
    """Inside vmap: the k-th draw of the loss returns ``bank[k]`` (each member its own row).

    A draw that differs from the recorded plan (another kind or shape) is an error: the
    model's draws change from update to update, so the sweep cannot redraw them per member.
    """

    def __init__(self, plan: Sequence[Draw], bank: Sequence[Tensor]) -> None:
        super().__init__()
        self.plan, self.bank, self.k = plan, bank, 0

    def handle(self, draw: Draw, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        k = self.k
        if k >= len(self.plan) or replace(self.plan[k], device=draw.device) != draw:
            want = self.plan[k] if k < len(self.plan) else "nothing more"
            raise GenzooError(f"the loss's random draw {k + 1} was {want} when the sweep started but is now {draw}; "
                              "this model cannot be vmapped, train its seeds with --sequential")
        self.k += 1
        return draw.result(self.bank[k], args)


class Shard(_Intercept):
    """One data-parallel process's share of the draws of the whole global batch.

    A draw with a dimension of this process's batch size ``b`` (the first such dimension:
    ``(b, d)`` noise, or ``(k, b, d)`` importance samples) is drawn for the global batch
    ``world * b`` there (every process holds the same generator state) and sliced to rows
    ``rank * b : (rank + 1) * b``; other draws are the same on every process, as in one.
    """

    def __init__(self, rank: int, world: int, local_batch: int) -> None:
        super().__init__()
        self.rank, self.world, self.b = rank, world, local_batch

    def handle(self, draw: Draw, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if draw.kind == "perm" or self.b not in draw.shape:
            return func(*args, **kwargs)
        dim = draw.shape.index(self.b)
        full = draw.sample(None, shape=(*draw.shape[:dim], self.world * self.b, *draw.shape[dim + 1:]))
        return draw.result(full.narrow(dim, self.rank * self.b, self.b), args)
