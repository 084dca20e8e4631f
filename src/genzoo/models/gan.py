"""Generative adversarial networks: one objective, one table of losses.

A :class:`GAN` wraps a generator G: z -> x and a critic D: x -> score. Training is two
players: ``critic`` (updated ``n_critic`` times per round, weights clipped after each update
for the original WGAN) and ``generator``. What the two players minimise comes from
:data:`LOSSES`, a table of ``(critic loss, generator loss)`` pairs over raw critic scores of
real (r) and generated (f) examples:

==================  =======================================  ==========================
loss                critic minimises                          generator minimises
==================  =======================================  ==========================
minimax             softplus(-r) + softplus(f)                -softplus(f) = log(1 - D)
non_saturating      softplus(-r) + softplus(f)                softplus(-f) = -log D
fgan (divergence)   -(E g_f(r) - E f*(g_f(f)))                -E f*(g_f(f)) or -E g_f(f)
wasserstein         E f - E r  (+ clipping or λ·GP)           -E f
least_squares       ½(r - 1)² + ½ f²                          ½(f - 1)²
hinge               relu(1 - r) + relu(1 + f)                 -E f
energy (EBGAN)      r + relu(m - f)  (r, f: energies)         f (+ pull-away term)
density_ratio       softplus(-r) + softplus(f)                -E f  (estimates KL(fake || real))
==================  =======================================  ==========================

Fakes per round (``reuse_fakes``, every row of the table, every GAN of genzoo): with
``reuse_fakes=True`` the generator runs once per round. The critic's update scores ``G(z)``
detached; the generator's update then back-propagates through the *same* ``G(z)``, scored by
the just-updated critic, as the reference DCGAN code does (PyTorch's DCGAN example;
PyTorch-GAN's ``dcgan.py`` the other way round). Every update still minimises its row of the
table: the critic's gradient is the one fresh fakes give (same z, same values), and the
generator's is its loss's gradient at z, only that z is the one the critic has just seen (an
O(learning rate) correlation). With ``n_critic > 1`` the last critic update's fakes are
reused. It saves a third of a DCGAN round, whose cost is mostly the generator's. The default
(``False``) draws new fakes for the generator update, two generator forwards per round; it is
also what ``genzoo sweep`` can vmap (kept fakes cannot cross its per-player vmap calls, so a
sweep of ``reuse_fakes=True`` models trains its seeds one after another).

Conditioning (cGAN) appends a one-hot label to z and to the critic's input (as constant
feature maps for conv critics). EBGAN, BEGAN and InfoGAN reuse this objective through small
subclasses in :mod:`genzoo.models.gan_variants`.

The networks are nested options (:mod:`genzoo.config`): ``generator`` and ``critic`` are two
independent networks (``auto``: DCGAN convolutions for images, MLPs otherwise), e.g.
``--set model.critic.hidden=[256,256]`` or ``--set model.generator.type=mlp``.

References:
    Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014.
    Radford, Metz & Chintala, "DCGAN", ICLR 2016.
    Mirza & Osindero, "Conditional Generative Adversarial Nets", 2014.
    Nowozin, Cseke & Tomioka, "f-GAN", NeurIPS 2016.
    Arjovsky, Chintala & Bottou, "Wasserstein GAN", ICML 2017.
    Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017.
    Mao et al., "Least Squares Generative Adversarial Networks", ICCV 2017.
    Lim & Ye, "Geometric GAN", 2017; Miyato et al., "Spectral Normalization for GANs", ICLR 2018 (hinge).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Callable, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import PosFloat, Range, Size, Spec, Weight
from ..data.base import Batch, DataInfo
from ..divergences import F_DIVERGENCES
from ..errors import GenzooError
from ..nets.base import append_condition, condition_shape, net, one_hot, takes_flat
from ..registry import MODELS
from .base import GenerativeModel, Player

# -- the loss table --------------------------------------------------------------------------


#: PacGAN packing: the critic sees this many samples at once (1: no packing).
Pack = Annotated[int, Range(1, 64)]
#: Critic updates per generator update.
NCritic = Annotated[int, Range(1, 100)]


@dataclass(frozen=True)
class AdversarialLoss:
    """A row of the table: per-score loss terms over raw critic scores.

    The critic minimises E_data[real(r)] + E_G[fake(f)] and the generator E_G[generator(f)].
    The data expectation is the batch's weighted mean (:meth:`~genzoo.data.Batch.mean`),
    so weighted examples shift the distribution the GAN matches; fakes weigh equally.

    Attributes:
        name: table key.
        real, fake: the critic's loss per real / generated score, ``(B,) -> (B,)``.
        generator: the generator's loss per generated score, ``(B,) -> (B,)``.
        stats: ``(real scores, fake scores, critic loss) -> {name: scalar}`` to log (detached).
    """

    name: str
    real: Callable[[Tensor], Tensor]
    fake: Callable[[Tensor], Tensor]
    generator: Callable[[Tensor], Tensor]
    stats: Callable[[Tensor, Tensor, Tensor], dict[str, Tensor]] | None = None

    def critic_loss(self, r: Tensor, f: Tensor, mean: Callable[[Tensor], Tensor] = torch.mean) -> dict[str, Tensor]:
        """``{"loss": mean(real(r)) + E fake(f), logged stats}``; ``mean`` reduces the real scores."""
        loss = mean(self.real(r)) + self.fake(f).mean()
        out = {"loss": loss}
        if self.stats is not None:
            out.update(self.stats(r.detach(), f.detach(), loss.detach()))
        return out

    def generator_loss(self, f: Tensor) -> Tensor:
        """The generator's loss: the mean of :attr:`generator` over generated scores."""
        return self.generator(f).mean()


def _bce(name: str, generator: Callable[[Tensor], Tensor]) -> AdversarialLoss:
    # -log D(x) - log(1 - D(G(z))) with D = sigmoid(score), in the stable softplus form
    return AdversarialLoss(name, lambda r: F.softplus(-r), F.softplus, generator,
                           lambda r, f, loss: {"d_real": torch.sigmoid(r).mean(), "d_fake": torch.sigmoid(f).mean()})


def _fgan(divergence: str, generator: str = "alternative") -> AdversarialLoss:
    if divergence not in F_DIVERGENCES:
        raise GenzooError(f"unknown f-divergence '{divergence}'; choose one of: {', '.join(F_DIVERGENCES)}")
    div = F_DIVERGENCES[divergence]
    # the critic maximises the bound E_P[g_f(v)] - E_Q[f*(g_f(v))] (f_divergence_bound), term by term
    if generator == "saddle":  # min_G of the bound itself (Nowozin et al. eq. 6)
        gen = lambda f: -div.conjugate_at(f)  # noqa: E731
    else:  # the "alternative" update of §3.2: max_G E_Q[g_f(V(G(z)))], stronger early gradients
        gen = lambda f: -div.activation(f)  # noqa: E731
    return AdversarialLoss(f"fgan_{divergence}", lambda r: -div.activation(r), div.conjugate_at, gen,
                           lambda r, f, loss: {"fdiv": -loss})


def _energy(margin: float = 1.0) -> AdversarialLoss:
    return AdversarialLoss("energy", lambda r: r, lambda f: F.relu(margin - f), lambda f: f,
                           lambda r, f, loss: {"energy_real": r.mean(), "energy_fake": f.mean()})


LOSSES: dict[str, Callable[..., AdversarialLoss]] = {
    "minimax": lambda: _bce("minimax", lambda f: -F.softplus(f)),
    "non_saturating": lambda: _bce("non_saturating", lambda f: F.softplus(-f)),
    "fgan": _fgan,
    "wasserstein": lambda: AdversarialLoss("wasserstein", lambda r: -r, lambda f: f, lambda f: -f,
                                           lambda r, f, loss: {"wdist": -loss}),
    "least_squares": lambda: AdversarialLoss("least_squares", lambda r: 0.5 * (r - 1) ** 2, lambda f: 0.5 * f**2,
                                             lambda f: 0.5 * (f - 1) ** 2),
    "hinge": lambda: AdversarialLoss("hinge", lambda r: F.relu(1 - r), lambda f: F.relu(1 + f), lambda f: -f),
    "energy": _energy,
    # the density-ratio trick: the logistic critic's optimum is f* = log p_real / p_fake, so -E_fake f
    # estimates KL(p_fake || p_real), which the generator minimises (FactorVAE's total correlation)
    "density_ratio": lambda: _bce("density_ratio", lambda f: -f),
}


def adversarial_loss(name: str, **options: Any) -> AdversarialLoss:
    """Build loss ``name`` of :data:`LOSSES` (``fgan`` takes ``divergence=``, ``energy`` ``margin=``)."""
    if name not in LOSSES:
        raise GenzooError(f"unknown adversarial loss '{name}'; choose one of: {', '.join(LOSSES)}")
    return LOSSES[name](**options)


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor,
                     mean: Callable[[Tensor], Tensor] = torch.mean) -> Tensor:
    r"""WGAN-GP's penalty E_x̂[(‖∇_x̂ D(x̂)‖₂ - 1)²] on random interpolates x̂ = εx + (1-ε)x̃.

    Args:
        critic: ``x -> (B,)`` scores.
        real: ``(B, ...)`` data; ``fake``: generated examples of the same shape.
        mean: the reduction over the critic's inputs (the batch's weighted mean: an
            interpolate carries its real example's weight).

    References:
        Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017, Algorithm 1.
    """
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    x_hat = eps * real + (1 - eps) * fake
    # ∇_x̂ Σ D(x̂) as a vector-Jacobian product: differentiable in the critic's parameters like
    # autograd.grad(create_graph=True), and it also runs under torch.func.vmap (seed sweeps)
    scores, pullback = torch.func.vjp(critic, x_hat)  # (B,), or (B / m,) for a packing critic
    (grad,) = pullback(torch.ones_like(scores))
    return mean((grad.reshape(scores.shape[0], -1).norm(dim=1) - 1) ** 2)  # norm over each critic input


# -- the objective -----------------------------------------------------------------------------


def _transformed() -> bool:
    """Whether this runs inside a ``torch.func`` transform (``vmap``, ``grad``)."""
    try:
        return torch._C._functorch.peek_interpreter_stack() is not None
    except AttributeError:  # a PyTorch without functorch's interpreter stack
        return False


class GAN(GenerativeModel):
    """Generator vs critic under a loss of :data:`LOSSES`.

    Args:
        generator: ``(B, latent_dim [+ K]) -> (B, *shape)`` raw outputs.
        critic: ``(B, *shape) -> (B, 1)`` scores (``(B, C + K, H, W)`` inputs when conditional,
            or ``(B, D + K)`` for a critic that flattens its input, :func:`~genzoo.nets.base.takes_flat`).
        loss: an :class:`AdversarialLoss`.
        info: the data's metadata.
        latent_dim: size of z ~ N(0, I).
        n_critic: critic updates per generator update.
        clip: clip every critic parameter to [-clip, clip] after each critic update (WGAN); 0: off.
        gp_weight: λ of the gradient penalty added to the critic loss (WGAN-GP); 0: off.
        out_act: applied to the generator's raw output: ``none``, ``sigmoid`` or ``tanh``.
        num_classes: > 0 makes the GAN conditional on labels (cGAN).
        pack: PacGAN's packing degree m (Lin et al. 2018): the critic scores m examples of
            one source at once, concatenated along dim 1 (features, or channels for images),
            so it sees the diversity of a set and penalises mode collapse. The critic takes
            ``m * (C [+ K])`` input channels; batches must be divisible by m. 1: off.
        critic_optim, generator_optim: suggested optimizer settings of the two players.
        reuse_fakes: one generator forward per round: the critic's fakes (kept with their
            graph) are the generator's too (see the module notes); ``False`` (default): fresh
            fakes for the generator update.
    """

    def __init__(
        self,
        generator: nn.Module,
        critic: nn.Module,
        loss: AdversarialLoss,
        info: DataInfo,
        latent_dim: int,
        *,
        n_critic: int = 1,
        clip: float = 0.0,
        gp_weight: float = 0.0,
        out_act: str = "none",
        num_classes: int = 0,
        pack: int = 1,
        critic_optim: dict[str, Any] | None = None,
        generator_optim: dict[str, Any] | None = None,
        reuse_fakes: bool = False,
    ) -> None:
        super().__init__()
        if out_act not in ("none", "sigmoid", "tanh"):
            raise GenzooError(f"out_act must be none, sigmoid or tanh, got {out_act!r}")
        if n_critic < 1:
            raise GenzooError(f"n_critic must be at least 1, got {n_critic}")
        if pack < 1:
            raise GenzooError(f"pack must be at least 1, got {pack}")
        self.pack = pack
        self.generator, self.critic, self.adv = generator, critic, loss
        self.flat_condition = takes_flat(critic)
        self.info, self.latent_dim, self.num_classes = info, latent_dim, num_classes
        self.n_critic, self.clip, self.gp_weight, self.out_act = n_critic, clip, gp_weight, out_act
        self.critic_optim = dict(critic_optim or {})
        self.generator_optim = dict(generator_optim or {})
        self.reuse_fakes = reuse_fakes
        self._kept: tuple[Tensor, Tensor | None, Tensor] | None = None  # this round's (G(z), y, z), with graph

    # -- players --------------------------------------------------------------------------
    def critic_params(self) -> list[nn.Parameter]:
        return [p for p in self.critic.parameters() if p.requires_grad]

    def generator_params(self) -> list[nn.Parameter]:
        return [p for p in self.generator.parameters() if p.requires_grad]

    def players(self) -> list[Player]:
        return [
            Player("critic", self.critic_params(), self.critic_loss, self.n_critic,
                   self.after_critic_step, self.critic_optim),
            Player("generator", self.generator_params(), self.generator_loss, 1, None, self.generator_optim),
        ]

    @torch.no_grad()
    def after_critic_step(self) -> None:
        """Weight clipping (WGAN): keeps the critic in a compact set, hence K-Lipschitz."""
        if self.clip > 0:
            for p in self.critic.parameters():
                p.clamp_(-self.clip, self.clip)

    # -- networks -------------------------------------------------------------------------
    def noise(self, n: int) -> Tensor:
        ref = next(self.generator.parameters())
        return torch.randn(n, self.latent_dim, device=ref.device, dtype=ref.dtype)  # (n, latent_dim)

    def labels(self, n: int, c: Tensor | None) -> Tensor | None:
        """The one-hot conditioning ``(n, K)``: ``c`` given, else uniform random labels."""
        if self.num_classes == 0:
            return None
        ref = next(self.generator.parameters())
        if c is None:
            c = torch.randint(0, self.num_classes, (n,), device=ref.device)
        return one_hot(c, self.num_classes, ref)

    def generate(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """G(z [, y]) with the output activation, shaped like the data ``(B, *shape)``."""
        x = self.generator(z if y is None else torch.cat([z, y], dim=1))
        x = x.reshape(z.shape[0], *self.info.shape)
        return torch.sigmoid(x) if self.out_act == "sigmoid" else torch.tanh(x) if self.out_act == "tanh" else x

    def score(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Raw critic scores ``(B,)`` (for EBGAN/BEGAN: energies); ``(B / pack,)`` when packing."""
        v = x if y is None else append_condition(x, y, self.flat_condition)  # (B, C [+ K], ...) or (B, D [+ K])
        if self.pack > 1:
            if v.shape[0] % self.pack:
                raise GenzooError(f"pack={self.pack} needs a batch size divisible by {self.pack}, got {v.shape[0]}; "
                                  f"set train.batch_size to a multiple of {self.pack}")
            v = v.reshape(v.shape[0] // self.pack, self.pack * v.shape[1], *v.shape[2:])  # m examples side by side
        return self.critic(v).reshape(v.shape[0])

    @torch.no_grad()
    def sample(self, n: int, c: Tensor | None = None) -> Tensor:
        return self.generate(self.noise(n), self.labels(n, c))

    def _fake(self, n: int, c: Tensor | None) -> tuple[Tensor, Tensor | None, Tensor]:
        """``(G(z, y), y, z)``: fresh noise, labels ``c`` (or uniform random ones when conditional)."""
        y = self.labels(n, c)
        z = self.noise(n)
        return self.generate(z, y), y, z

    def critic_fakes(self, n: int, c: Tensor | None) -> tuple[Tensor, Tensor | None, Tensor]:
        """Fakes for a critic update, detached: ``(G(z, y), y, z)``.

        With ``reuse_fakes`` (and autograd on) they are generated with their graph, which is
        kept for this round's generator update (:meth:`generator_fakes`); otherwise under
        ``no_grad``.
        """
        if self.reuse_fakes and torch.is_grad_enabled():
            if _transformed():
                raise GenzooError("reuse_fakes=True keeps a round's fakes from the critic's update for the generator's, "
                                  "which cannot cross torch.func.vmap calls; set model.reuse_fakes=false to vmap seeds")
            fake, y, z = self._fake(n, c)
            self._kept = (fake, y, z)
            return fake.detach(), y, z
        with torch.no_grad():
            return self._fake(n, c)

    def generator_fakes(self, n: int, c: Tensor | None) -> tuple[Tensor, Tensor | None, Tensor]:
        """Fakes for a generator update, with graph: the round's critic fakes when kept, else fresh."""
        kept, self._kept = self._kept, None  # used once: the next round draws new noise
        if kept is not None and kept[0].shape[0] == n and torch.is_grad_enabled():
            return kept
        return self._fake(n, c)

    # -- objective ------------------------------------------------------------------------
    def real_mean(self, batch: Batch) -> Callable[[Tensor], Tensor]:
        """The reduction of the critic's terms on real data: ``batch.mean``; with packing, over
        the groups of ``pack`` consecutive examples, each weighted by its members' mean weight."""
        if self.pack == 1:
            return batch.mean
        w = None if batch.weight is None else batch.weight.view(-1, self.pack).mean(1)
        return Batch(batch.x[:: self.pack], weight=w).mean

    def critic_loss(self, batch: Batch) -> dict[str, Tensor]:
        x = batch.x
        c = batch.c if self.num_classes else None
        fake, y, _ = self.critic_fakes(x.shape[0], c)  # conditional: fakes get the batch's labels
        mean = self.real_mean(batch)
        out = self.adv.critic_loss(self.score(x, y), self.score(fake, y), mean)
        if self.gp_weight > 0:
            gp = gradient_penalty(lambda v: self.score(v, y), x, fake, mean)
            out = {**out, "loss": out["loss"] + self.gp_weight * gp, "gp": gp}
        return out

    def generator_loss(self, batch: Batch) -> dict[str, Tensor]:
        c = batch.c if self.num_classes else None
        fake, y, _ = self.generator_fakes(batch.x.shape[0], c)
        loss = self.adv.generator_loss(self.score(fake, y))
        return {"loss": loss}


# -- factories ----------------------------------------------------------------------------------


def output_activation(info: DataInfo) -> str:
    """Sigmoid for images in [0, 1], tanh for images in [-1, 1], none otherwise."""
    if info.kind == "image":
        lo, hi = info.value_range
        if (lo, hi) == (0.0, 1.0):
            return "sigmoid"
        if (lo, hi) == (-1.0, 1.0):
            return "tanh"
    return "none"


GENERATOR = net(mlp={"hidden": (128, 128)}, help="G: noise -> data (auto: DCGAN convolutions for images, an MLP otherwise)")
CRITIC = net(mlp={"hidden": (128, 128), "act": "leaky_relu"}, help="D: data -> score (auto: DCGAN convolutions for images, an MLP otherwise)")
ADAM_DCGAN = {"name": "adam", "lr": 2e-4, "betas": (0.5, 0.999)}  # Radford et al. 2016, §4


def build_gan_nets(info: DataInfo, generator: Spec, critic: Spec, latent_dim: int, *, cond: int = 0, critic_out: int = 1,
                   pack: int = 1) -> tuple[nn.Module, nn.Module]:
    """A generator ``latent_dim + cond -> data`` and a critic ``pack x (data (+ cond)) -> critic_out`` from their specs."""
    gen = generator.build(in_shape=(latent_dim + cond,), out_shape=tuple(info.shape))
    c_in = condition_shape(tuple(info.shape), cond, critic.meta.get("flat", False))
    return gen, critic.build(in_shape=(pack * c_in[0], *c_in[1:]), out_shape=(critic_out,))


def _build(info: DataInfo, loss: AdversarialLoss, generator: Spec, critic: Spec, latent_dim: int, *,
           conditional: bool = False, optim: dict[str, Any] | None = None, pack: int = 1, **kw: Any) -> GAN:
    if conditional and info.num_classes < 1:
        raise GenzooError(f"a conditional GAN needs labelled data, but {info.name} has no classes; use an unconditional model")
    k = info.num_classes if conditional else 0
    gen, crit = build_gan_nets(info, generator, critic, latent_dim, cond=k, pack=pack)
    optim = dict(ADAM_DCGAN if optim is None else optim)
    return GAN(gen, crit, loss, info, latent_dim, out_act=output_activation(info), num_classes=k, pack=pack,
               critic_optim=optim, generator_optim=dict(optim), **kw)


@MODELS.register("gan", help="GAN (Goodfellow et al. 2014): minimax or non-saturating loss; MLP or DCGAN nets")
def gan(info: DataInfo, latent_dim: Size = 16, loss: Literal["non_saturating", "minimax"] = "non_saturating",
        generator: Spec = GENERATOR, critic: Spec = CRITIC, pack: Pack = 1, reuse_fakes: bool = False) -> GAN:
    """Args:
        latent_dim: size of z ~ N(0, I).
        pack: PacGAN packing degree: the critic scores this many examples at once (1: off).
        reuse_fakes: one generator forward per round (the critic's fakes serve the generator update too).
    """
    return _build(info, adversarial_loss(loss), generator, critic, latent_dim, pack=pack, reuse_fakes=reuse_fakes)


@MODELS.register("dcgan", help="DCGAN (Radford et al. 2016): convolutional GAN, Adam 2e-4 β1=0.5", data_kinds=("image",))
def dcgan(info: DataInfo, latent_dim: Size = 100, generator: Spec = net("conv"), critic: Spec = net("conv"),
          loss: Literal["non_saturating", "minimax"] = "non_saturating", pack: Pack = 1, reuse_fakes: bool = False) -> GAN:
    """Args:
        latent_dim: size of z ~ N(0, I).
        pack: PacGAN packing degree: the critic scores this many examples at once (1: off).
        reuse_fakes: one generator forward per round (the critic's fakes serve the generator update too).
    """
    return _build(info, adversarial_loss(loss), generator, critic, latent_dim, pack=pack, reuse_fakes=reuse_fakes)


@MODELS.register("cgan", help="conditional GAN (Mirza & Osindero 2014): labels into both networks; sample(n, c)")
def cgan(info: DataInfo, latent_dim: Size = 16, loss: Literal["non_saturating", "minimax"] = "non_saturating",
         generator: Spec = GENERATOR, critic: Spec = CRITIC, pack: Pack = 1, reuse_fakes: bool = False) -> GAN:
    """Args:
        latent_dim: size of z ~ N(0, I).
        pack: PacGAN packing degree: the critic scores this many examples at once (1: off).
        reuse_fakes: one generator forward per round (the critic's fakes serve the generator update too).
    """
    return _build(info, adversarial_loss(loss), generator, critic, latent_dim, conditional=True, pack=pack, reuse_fakes=reuse_fakes)


@MODELS.register("fgan", help="f-GAN (Nowozin et al. 2016): critic maximises a variational f-divergence bound")
def fgan(info: DataInfo, latent_dim: Size = 16,
         divergence: Literal["kl", "reverse_kl", "pearson", "hellinger", "jensen_shannon", "gan"] = "jensen_shannon",
         generator_update: Literal["alternative", "saddle"] = "alternative",
         generator: Spec = GENERATOR, critic: Spec = CRITIC, pack: Pack = 1, reuse_fakes: bool = False) -> GAN:
    """Args:
        divergence: the f-divergence whose variational bound the critic maximises.
        generator_update: alternative (max E g_f(V(G(z))), stronger early gradients) or saddle (min of the bound).
        latent_dim: size of z ~ N(0, I).
        pack: PacGAN packing degree: the critic scores this many examples at once (1: off).
        reuse_fakes: one generator forward per round (the critic's fakes serve the generator update too).
    """
    return _build(info, adversarial_loss("fgan", divergence=divergence, generator=generator_update), generator, critic,
                  latent_dim, pack=pack, reuse_fakes=reuse_fakes)


# A clipped critic (c = 0.01) needs thousands of rounds on a 2-D mixture (~0.2-0.5 of samples on a
# mode after 1000 rounds even at 20-60x the paper's lr), so the generic tiny-fit test runs it on
# images, at its own RMSprop 5e-5 (lr None), for 100 rounds: there the critic loss -W_est falls
# while the critic learns; later it rightly rises again as the generator closes the gap.
# It trains on points all the same (benchmarks/bench_gan_modes.py).
@MODELS.register("wgan", help="Wasserstein GAN (Arjovsky et al. 2017): weight clipping c, RMSprop 5e-5, n_critic 5",
                 data_kinds=("image",), tiny_fit={"lr": None, "steps": 100})
def wgan(info: DataInfo, latent_dim: Size = 16, clip: PosFloat = 0.01, n_critic: NCritic = 5, generator: Spec = GENERATOR,
         critic: Spec = CRITIC, pack: Pack = 1, reuse_fakes: bool = False) -> GAN:
    """Args:
        clip: critic weights are clipped to [-clip, clip] after each update.
        n_critic: critic updates per generator update.
        latent_dim: size of z ~ N(0, I).
        pack: PacGAN packing degree: the critic scores this many examples at once (1: off).
        reuse_fakes: one generator forward per round (the critic's fakes serve the generator update too).
    """
    return _build(info, adversarial_loss("wasserstein"), generator, critic, latent_dim, n_critic=n_critic, clip=clip,
                  optim={"name": "rmsprop", "lr": 5e-5}, pack=pack, reuse_fakes=reuse_fakes)


# no batch norm in the critic: the penalty is per example (Gulrajani et al. §4)
@MODELS.register("wgan_gp", help="WGAN-GP (Gulrajani et al. 2017): gradient penalty λ=10, Adam 1e-4 β=(0, 0.9)",
                 tiny_fit={"steps": 600})  # ~0.6 of samples on a mode at 300 rounds, > 0.9 at 600
def wgan_gp(info: DataInfo, latent_dim: Size = 16, gp_weight: Weight = 10.0, n_critic: NCritic = 5, generator: Spec = GENERATOR,
            critic: Spec = net(mlp={"hidden": (128, 128), "act": "leaky_relu"}, conv={"batch_norm": False},
                               help="D: data -> score, without batch norm (the penalty is per example)"),
            pack: Pack = 1, reuse_fakes: bool = False) -> GAN:
    """Args:
        gp_weight: λ of the gradient penalty.
        n_critic: critic updates per generator update.
        latent_dim: size of z ~ N(0, I).
        pack: PacGAN packing degree: the critic scores this many examples at once (1: off).
        reuse_fakes: one generator forward per round (the critic's fakes serve the generator update too).
    """
    return _build(info, adversarial_loss("wasserstein"), generator, critic, latent_dim, n_critic=n_critic,
                  gp_weight=gp_weight, optim={"name": "adam", "lr": 1e-4, "betas": (0.0, 0.9)}, pack=pack, reuse_fakes=reuse_fakes)


@MODELS.register("lsgan", help="least-squares GAN (Mao et al. 2017), a-b-c = 0-1-1")
def lsgan(info: DataInfo, latent_dim: Size = 16, generator: Spec = GENERATOR, critic: Spec = CRITIC, pack: Pack = 1, reuse_fakes: bool = False) -> GAN:
    """Args:
        latent_dim: size of z ~ N(0, I).
        pack: PacGAN packing degree: the critic scores this many examples at once (1: off).
        reuse_fakes: one generator forward per round (the critic's fakes serve the generator update too).
    """
    return _build(info, adversarial_loss("least_squares"), generator, critic, latent_dim, pack=pack, reuse_fakes=reuse_fakes)


@MODELS.register("hinge_gan", help="GAN with the hinge loss (Lim & Ye 2017; Miyato et al. 2018)",
                 tiny_fit={"steps": 600})  # slower start than the log-loss GANs on the 2-D mixture
def hinge_gan(info: DataInfo, latent_dim: Size = 16, generator: Spec = GENERATOR, critic: Spec = CRITIC, pack: Pack = 1, reuse_fakes: bool = False) -> GAN:
    """Args:
        latent_dim: size of z ~ N(0, I).
        pack: PacGAN packing degree: the critic scores this many examples at once (1: off).
        reuse_fakes: one generator forward per round (the critic's fakes serve the generator update too).
    """
    return _build(info, adversarial_loss("hinge"), generator, critic, latent_dim, pack=pack, reuse_fakes=reuse_fakes)
