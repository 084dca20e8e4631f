"""GAN variants that only change what the critic sees: EBGAN, BEGAN and InfoGAN.

Each is a thin subclass of :class:`~genzoo.models.gan.GAN` (same players, same training
loop, same loss table):

- **EBGAN**: the critic is an autoencoder and the score is its reconstruction energy
  D(x) = mean (AE(x) - x)²; losses from the table's ``energy`` row,
  L_D = D(x) + [m - D(G(z))]⁺ and L_G = D(G(z)) + λ_PT · PT, where the pull-away term
  PT = 1/(N(N-1)) Σ_{i≠j} cos²(S_i, S_j) over the encoder codes S of a generated batch.
- **BEGAN**: autoencoder critic with L(v) = mean |v - AE(v)|;
  L_D = L(x) - k_t L(G(z)), L_G = L(G(z)), and the proportional controller
  k_{t+1} = clip(k_t + λ_k (γ L(x) - L(G(z))), 0, 1) applied after each critic update
  (k_t is a buffer, saved with the model). The convergence measure
  M_global = L(x) + |γ L(x) - L(G(z))| is logged as ``critic/m_global``.
- **InfoGAN**: the generator input is (z, c) with categorical and uniform continuous codes
  c; a Q head on the critic's penultimate features predicts c, and λ times the
  negative log-likelihood -E log Q(c | G(z, c)) (the variational mutual-information bound
  L_I up to the constant H(c)) is added to the generator player, which owns G and the Q
  head; as in the paper, λ is 1 for categorical codes and smaller (0.1) for continuous ones.
  The shared critic body is trained by the critic loss only.

References:
    Zhao, Mathieu & LeCun, "Energy-based Generative Adversarial Network", ICLR 2017.
    Berthelot, Schumm & Metz, "BEGAN: Boundary Equilibrium Generative Adversarial Networks", 2017.
    Chen et al., "InfoGAN: Interpretable Representation Learning by Information Maximizing
    Generative Adversarial Nets", NeurIPS 2016.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import PosFloat, Range, Size, Spec, Weight
from ..data.base import Batch, DataInfo
from ..errors import GenzooError
from ..nets.base import HasFeatures, net
from ..registry import MODELS
from .gan import ADAM_DCGAN, CRITIC, GAN, GENERATOR, AdversarialLoss, adversarial_loss, build_gan_nets, output_activation


class AutoencoderCritic(nn.Module):
    """An autoencoder used as a critic: ``forward(x)`` is the reconstruction ``(B, *shape)``."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module, shape: tuple[int, ...], out_act: str = "none") -> None:
        super().__init__()
        self.encoder, self.decoder, self.shape, self.out_act = encoder, decoder, tuple(shape), out_act

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)  # (B, code_dim)

    def decode(self, h: Tensor) -> Tensor:
        x = self.decoder(h).reshape(h.shape[0], *self.shape)
        return torch.sigmoid(x) if self.out_act == "sigmoid" else torch.tanh(x) if self.out_act == "tanh" else x

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))


def autoencoder_critic(info: DataInfo, encoder: Spec, decoder: Spec, code_dim: int | None) -> AutoencoderCritic:
    """Encoder/decoder critic from their specs; ``code_dim=None``: 64 for images, half the dimension for vectors.

    The code must be a bottleneck: an autoencoder wider than its data reconstructs anything,
    and its energy then tells real from generated examples nothing.
    """
    if code_dim is None:
        code_dim = 64 if info.kind == "image" else max(1, info.dim // 2)
    enc = encoder.build(in_shape=tuple(info.shape), out_shape=(code_dim,))
    dec = decoder.build(in_shape=(code_dim,), out_shape=tuple(info.shape))
    return AutoencoderCritic(enc, dec, info.shape, output_activation(info))


def pull_away(s: Tensor) -> Tensor:
    """EBGAN's pull-away term: mean squared cosine similarity of distinct rows of ``s (N, d)``."""
    s = F.normalize(s.flatten(1), dim=1)
    n = s.shape[0]
    sim = (s @ s.T) ** 2  # (N, N)
    return (sim.sum() - sim.diagonal().sum()) / (n * (n - 1))


class EBGAN(GAN):
    """Energy-based GAN: the critic is an autoencoder, its score a reconstruction energy."""

    def __init__(self, generator: nn.Module, critic: AutoencoderCritic, loss: AdversarialLoss, info: DataInfo,
                 latent_dim: int, pt_weight: float = 0.1, **kw: Any) -> None:
        super().__init__(generator, critic, loss, info, latent_dim, **kw)
        self.pt_weight = pt_weight

    def energy(self, x: Tensor, rec: Tensor) -> Tensor:
        return (rec - x).pow(2).flatten(1).mean(1)  # (B,)

    def score(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        return self.energy(x, self.critic(x))

    def generator_loss(self, batch: Batch) -> dict[str, Tensor]:
        fake, _, _ = self.generator_fakes(batch.x.shape[0], None)
        codes = self.critic.encode(fake)
        adv = self.adv.generator_loss(self.energy(fake, self.critic.decode(codes)))
        pt = pull_away(codes)
        return {"loss": adv + self.pt_weight * pt, "pull_away": pt}


class BEGAN(GAN):
    """Boundary-equilibrium GAN: autoencoder critic balanced by the controller k_t (a buffer)."""

    def __init__(self, generator: nn.Module, critic: AutoencoderCritic, info: DataInfo, latent_dim: int,
                 gamma: float = 0.5, lambda_k: float = 1e-3, **kw: Any) -> None:
        # the table row only supplies the generator's L(G(z)); the critic loss needs k_t
        loss = AdversarialLoss("began", lambda r: r, lambda f: -f, lambda f: f)
        super().__init__(generator, critic, loss, info, latent_dim, **kw)
        self.gamma, self.lambda_k = gamma, lambda_k
        self.register_buffer("k", torch.zeros(()))
        self._balance: Tensor | None = None

    def score(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        return (self.critic(x) - x).abs().flatten(1).mean(1)  # L(v), (B,)

    def critic_loss(self, batch: Batch) -> dict[str, Tensor]:
        fake, _, _ = self.critic_fakes(batch.x.shape[0], None)
        l_real, l_fake = batch.mean(self.score(batch.x)), self.score(fake).mean()
        balance = (self.gamma * l_real - l_fake).detach()
        self._balance = balance  # applied to k_t once this update has been taken
        return {"loss": l_real - self.k * l_fake, "k": self.k.clone(), "m_global": l_real.detach() + balance.abs()}

    @torch.no_grad()
    def after_critic_step(self) -> None:
        super().after_critic_step()
        if self._balance is not None:
            self.k.copy_((self.k + self.lambda_k * self._balance).clamp(0.0, 1.0))
            self._balance = None


def critic_split(critic: HasFeatures, x: Tensor) -> tuple[Tensor, Tensor]:
    """``(features (B, F), scores (B, 1))`` of a critic split into a body and a linear head."""
    h = critic.features(x)
    return h, critic.head(h)


class InfoGAN(GAN):
    """GAN whose generator also maximises a variational bound on I(c; G(z, c)).

    The generator input is ``(noise_dim + n_cat * cat_dim + n_cont)``: noise, one-hot
    categorical codes, and continuous codes ~ U(-1, 1). ``q_head`` maps the critic's features
    to ``n_cat * cat_dim`` logits plus a mean and log-std per continuous code.
    """

    def __init__(self, generator: nn.Module, critic: nn.Module, q_head: nn.Module, loss: AdversarialLoss,
                 info: DataInfo, noise_dim: int, n_cat: int = 1, cat_dim: int = 10, n_cont: int = 2,
                 info_weight: float = 1.0, cont_weight: float = 0.1, **kw: Any) -> None:
        if not isinstance(critic, HasFeatures):
            raise GenzooError(f"InfoGAN's Q head reads the critic's features, but {type(critic).__name__} has no "
                              "features()/head/feature_dim; use an mlp or conv critic")
        super().__init__(generator, critic, loss, info, noise_dim + n_cat * cat_dim + n_cont, **kw)
        self.q_head, self.noise_dim = q_head, noise_dim
        self.n_cat, self.cat_dim, self.n_cont = n_cat, cat_dim, n_cont
        self.info_weight, self.cont_weight = info_weight, cont_weight

    def critic_params(self) -> list[nn.Parameter]:
        # Q shares the critic's body and is trained with it (Chen et al. §6; the paper's code
        # adds the information term to the discriminator's loss as well as the generator's)
        return super().critic_params() + [p for p in self.q_head.parameters() if p.requires_grad]

    def critic_loss(self, batch: Batch) -> dict[str, Tensor]:
        """The adversarial loss plus λ·(-log Q(c | G(z, c))) on the fakes: the body learns features
        from which Q can read the codes; without it Q sees only real-vs-fake features."""
        fake, _, z = self.critic_fakes(batch.x.shape[0], None)
        h, fake_score = critic_split(self.critic, fake)
        out = self.adv.critic_loss(self.score(batch.x), fake_score.reshape(-1), self.real_mean(batch))
        ce, gauss, acc = self.codes_nll(h, z)
        return {**out, "loss": out["loss"] + self.info_weight * ce + self.cont_weight * gauss, "q_acc_fake": acc}

    def noise(self, n: int, codes: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """``(n, noise_dim + n_cat*cat_dim + n_cont)``; ``codes`` = (categories (n, n_cat), continuous (n, n_cont))."""
        ref = next(self.generator.parameters())
        z = torch.randn(n, self.noise_dim, device=ref.device, dtype=ref.dtype)
        if codes is None:
            cat = torch.randint(0, self.cat_dim, (n, self.n_cat), device=ref.device)
            cont = torch.rand(n, self.n_cont, device=ref.device, dtype=ref.dtype) * 2 - 1
        else:
            cat, cont = codes[0].to(ref.device), codes[1].to(device=ref.device, dtype=ref.dtype)
        onehot = F.one_hot(cat.long(), self.cat_dim).to(ref.dtype).flatten(1)
        return torch.cat([z, onehot, cont], dim=1)

    def codes_nll(self, h: Tensor, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Batch means of -log Q(c | x): categorical part, Gaussian part; and the categorical accuracy."""
        q = self.q_head(h)
        k = self.n_cat * self.cat_dim
        logits = q[:, :k].reshape(-1, self.n_cat, self.cat_dim)
        target = z[:, self.noise_dim : self.noise_dim + k].reshape(-1, self.n_cat, self.cat_dim).argmax(-1)
        ce = F.cross_entropy(logits.flatten(0, 1), target.flatten(), reduction="sum") / z.shape[0]
        mean, log_std = q[:, k : k + self.n_cont], q[:, k + self.n_cont :].clamp(-5.0, 2.0)
        cont = z[:, self.noise_dim + k :]
        gauss = (0.5 * ((cont - mean) / log_std.exp()) ** 2 + log_std + 0.5 * math.log(2 * math.pi)).sum(1).mean()
        acc = (logits.argmax(-1) == target).float().mean()
        return ce, gauss, acc

    def generator_loss(self, batch: Batch) -> dict[str, Tensor]:
        fake, _, z = self.generator_fakes(batch.x.shape[0], None)
        h, score = critic_split(self.critic, fake)
        adv = self.adv.generator_loss(score.reshape(-1))
        ce, gauss, acc = self.codes_nll(h, z)
        # λ·NLL = λ(H(c) - L_I): minimising it maximises the bound L_I on I(c; G(z, c)) (Chen et al. §5)
        loss = adv + self.info_weight * ce + self.cont_weight * gauss
        return {"loss": loss, "q_nll_cat": ce, "q_nll_cont": gauss, "q_acc": acc}

    @torch.no_grad()
    def infer_codes(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Q's reading of images ``x``: the most probable category per categorical code ``(n, n_cat)``
        and the mean of each continuous code ``(n, n_cont)`` (the codes as unsupervised features)."""
        h, _ = critic_split(self.critic, x)
        q = self.q_head(h)
        k = self.n_cat * self.cat_dim
        return q[:, :k].reshape(-1, self.n_cat, self.cat_dim).argmax(-1), q[:, k : k + self.n_cont]

    @torch.no_grad()
    def sample_codes(self, cat: Tensor, cont: Tensor) -> Tensor:
        """Samples with chosen codes: ``cat (n, n_cat)`` categories, ``cont (n, n_cont)`` in [-1, 1]."""
        return self.generate(self.noise(cat.shape[0], (cat, cont)))


# -- factories ----------------------------------------------------------------------------------

# the autoencoder critic: an encoder to a code and its mirror back (leaky ReLUs, as the critics)
AE_ENCODER = net(mlp={"hidden": (128, 128), "act": "leaky_relu"}, help="the critic's encoder: data -> code")
AE_DECODER = net(follow="encoder", mirror=True, mlp={"hidden": (128, 128), "act": "leaky_relu"},
                 help="the critic's decoder: code -> data; without a type it mirrors the encoder")


@MODELS.register("ebgan", help="energy-based GAN (Zhao et al. 2017): autoencoder critic, margin m, pull-away term")
def ebgan(info: DataInfo, latent_dim: Size = 16, code_dim: Size | None = None, margin: PosFloat = 1.0, pt_weight: Weight = 0.1,
          generator: Spec = GENERATOR, encoder: Spec = AE_ENCODER, decoder: Spec = AE_DECODER, reuse_fakes: bool = False) -> EBGAN:
    """Args:
        latent_dim: size of z ~ N(0, I).
        code_dim: the critic's code size (None: 64 for images, half the data dimension otherwise).
        margin: m of the critic's hinge on generated energies.
        pt_weight: weight of the pull-away term in the generator loss.
        reuse_fakes: one generator forward per round (the critic's fakes serve the generator update too).
    """
    gen = generator.build(in_shape=(latent_dim,), out_shape=tuple(info.shape))
    critic = autoencoder_critic(info, encoder, decoder, code_dim)
    return EBGAN(gen, critic, adversarial_loss("energy", margin=margin), info, latent_dim, pt_weight,
                 out_act=output_activation(info), critic_optim=dict(ADAM_DCGAN), generator_optim=dict(ADAM_DCGAN),
                 reuse_fakes=reuse_fakes)


@MODELS.register("began", help="boundary-equilibrium GAN (Berthelot et al. 2017): equilibrium γ, k_t controller")
def began(info: DataInfo, latent_dim: Size = 16, code_dim: Size | None = None,
          gamma: Annotated[float, Range(0, 1, lo_open=True)] = 0.5, lambda_k: Annotated[float, Range(0, 1)] = 1e-3,
          generator: Spec = GENERATOR, encoder: Spec = net(mlp={"hidden": (128, 128), "act": "leaky_relu"}, conv={"batch_norm": False},
                                                           help="the critic's encoder: data -> code (no batch norm)"),
          decoder: Spec = AE_DECODER, reuse_fakes: bool = False) -> BEGAN:
    """Args:
        latent_dim: size of z ~ N(0, I).
        code_dim: the critic's code size (None: 64 for images, half the data dimension otherwise).
        gamma: the equilibrium ratio γ = E L(G(z)) / E L(x).
        lambda_k: the k_t controller's gain.
        reuse_fakes: one generator forward per round (the critic's fakes serve the generator update too).
    """
    gen = generator.build(in_shape=(latent_dim,), out_shape=tuple(info.shape))
    critic = autoencoder_critic(info, encoder, decoder, code_dim)
    optim = {"name": "adam", "lr": 1e-4, "betas": (0.5, 0.999)}
    return BEGAN(gen, critic, info, latent_dim, gamma, lambda_k, out_act=output_activation(info),
                 critic_optim=optim, generator_optim=dict(optim), reuse_fakes=reuse_fakes)


@MODELS.register("infogan", help="InfoGAN (Chen et al. 2016): categorical + continuous codes, Q head on the critic body")
def infogan(info: DataInfo, latent_dim: Annotated[int, Range(0, 2**20)] = 16, n_cat: Annotated[int, Range(0, 100)] = 1,
            cat_dim: Annotated[int, Range(2, 10_000)] = 10, n_cont: Annotated[int, Range(0, 100)] = 2,
            info_weight: Weight = 1.0, cont_weight: Weight = 0.1, generator: Spec = GENERATOR, critic: Spec = CRITIC,
            q_head: Spec = net("mlp", mlp={"hidden": (128,), "act": "leaky_relu"}, help="Q: critic features -> code logits and Gaussian parameters"), reuse_fakes: bool = False) -> InfoGAN:
    """Args:
        latent_dim: size of the noise part of the generator input.
        n_cat, cat_dim: categorical codes and their number of categories.
        n_cont: continuous codes, uniform on [-1, 1].
        info_weight, cont_weight: λ of the categorical and of the continuous information terms.
        reuse_fakes: one generator forward per round. Q is then trained in the critic update on
            the very fakes whose codes the generator's information term scores; on the 2-D mixture
            of the tiny-fit test that fit worse (share of samples on a mode over four seeds
            0.25 / 0.89 / 0.22 / 0.15, against 0.66 / 0.52 / 0.31 / 0.94 without reuse).
    """
    codes = n_cat * cat_dim + n_cont
    gen, crit = build_gan_nets(info, generator, critic, latent_dim + codes)
    if not isinstance(crit, HasFeatures):
        raise GenzooError(f"infogan's Q head reads the critic's features; a {critic.type} critic has none, use mlp or conv")
    q = q_head.build(in_shape=(crit.feature_dim,), out_shape=(n_cat * cat_dim + 2 * n_cont,))
    return InfoGAN(gen, crit, q, adversarial_loss("non_saturating"), info, latent_dim, n_cat, cat_dim, n_cont,
                   info_weight, cont_weight, out_act=output_activation(info), critic_optim=dict(ADAM_DCGAN),
                   generator_optim=dict(ADAM_DCGAN), reuse_fakes=reuse_fakes)
