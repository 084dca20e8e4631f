"""Likelihood heads p(x | decoder output) and latent priors p(z).

A likelihood head turns a decoder's raw output into a distribution over data. The decoder
outputs ``n_params`` groups along dimension 1 (``(B, P*D)`` for MLPs, ``(B, P*C, H, W)`` for
conv nets); ``log_prob`` sums over every non-batch dimension and returns ``(B,)``.
Priors expose ``log_prob(z) -> (B,)`` and ``sample(n)``; the standard normal also has the
closed-form KL to a diagonal Gaussian posterior, which the VAE uses when it exists.

Both are registries a model's factory reads as nested components (``--set model.prior=vamp``,
``--set model.likelihood.type=gaussian``): a likelihood is built from the data's ``info``, a
prior from the latent size ``dim``, the data's ``data_shape`` and its ``num_classes``.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Callable, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import Component, NonNegFloat, PosFloat, Range, Sizes
from .data.kinds import PAD
from .divergences import LOG_2PI, kl_normal_normal, log_normal_diag, log_standard_normal
from .errors import GenzooError
from .registry import Registry

LIKELIHOODS = Registry("likelihood", context=("info",))
PRIORS = Registry("prior", context=("dim", "data_shape", "num_classes"))


class Likelihood(nn.Module):
    """Base class: ``n_params`` decoder outputs per data value."""

    n_params: int = 1

    def split(self, params: Tensor) -> tuple[Tensor, ...]:
        return params.chunk(self.n_params, dim=1) if self.n_params > 1 else (params,)

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:  # (B,)
        raise NotImplementedError

    def mean(self, params: Tensor) -> Tensor:
        raise NotImplementedError

    def sample(self, params: Tensor) -> Tensor:
        raise NotImplementedError


@LIKELIHOODS.register("bernoulli")
class Bernoulli(Likelihood):
    """Independent Bernoulli per value; the decoder outputs logits. Data in [0, 1]."""

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        x = x.reshape(params.shape)
        return -F.binary_cross_entropy_with_logits(params, x, reduction="none").flatten(1).sum(1)

    def mean(self, params: Tensor) -> Tensor:
        return torch.sigmoid(params)

    def sample(self, params: Tensor) -> Tensor:
        return torch.bernoulli(torch.sigmoid(params))


@LIKELIHOODS.register("gaussian")
class Gaussian(Likelihood):
    """Independent Gaussian per value with mean from the decoder.

    Args:
        variance: ``"fixed"`` (sigma = ``sigma``), ``"learned"`` (one learned sigma shared by all
            values) or ``"decoder"`` (the decoder outputs a log-sigma per value too).
        sigma: the fixed (or initial learned) standard deviation.
    """

    def __init__(self, variance: Literal["fixed", "learned", "decoder"] = "learned", sigma: PosFloat = 1.0) -> None:
        super().__init__()
        if variance not in ("fixed", "learned", "decoder"):
            raise GenzooError(f"variance must be fixed, learned or decoder, got {variance!r}")
        self.variance = variance
        self.n_params = 2 if variance == "decoder" else 1
        log_sigma = torch.tensor(math.log(sigma))
        if variance == "learned":
            self.log_sigma = nn.Parameter(log_sigma)
        else:
            self.register_buffer("log_sigma", log_sigma)

    def _mean_logvar(self, params: Tensor) -> tuple[Tensor, Tensor]:
        if self.variance == "decoder":
            mu, log_sigma = params.chunk(2, dim=1)
            return mu, 2 * log_sigma.clamp(-7.0, 5.0)
        return params, (2 * self.log_sigma).expand_as(params)

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        mu, logvar = self._mean_logvar(params)
        x = x.reshape(mu.shape)
        return log_normal_diag(x.flatten(1), mu.flatten(1), logvar.flatten(1))

    def mean(self, params: Tensor) -> Tensor:
        return self._mean_logvar(params)[0]

    def sample(self, params: Tensor) -> Tensor:
        mu, logvar = self._mean_logvar(params)
        return mu + torch.randn_like(mu) * (0.5 * logvar).exp()


def log_normal_components(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    r"""log N(z; μ_k, diag σ_k²) for every z ``(..., d)`` and component k of ``mu, logvar (K, d)`` -> ``(..., K)``.

    Expands the square, -½ Σ_j [log 2π + log σ²_kj + z_j²/σ²_kj − 2 z_j μ_kj/σ²_kj + μ²_kj/σ²_kj],
    into two matrix products, so no ``(..., K, d)`` tensor is ever allocated (VampPrior with
    500 components under a 50-sample IWAE bound would need gigabytes otherwise).
    """
    prec = torch.exp(-logvar)  # (K, d)
    const = (LOG_2PI + logvar + mu.pow(2) * prec).sum(-1)  # (K,)
    return -0.5 * (z.pow(2) @ prec.T - 2 * z @ (mu * prec).T + const)


class Prior(nn.Module):
    """A density over latent vectors ``z`` of shape ``(B, dim)``.

    Attributes:
        conditional: ``log_prob(z, c)``, ``sample(n, c)`` and ``kl_from_normal(..., c)`` take
            the condition ``c`` (p(z | y), p(z | x)).
        uses_posterior: the prior is built from its VAE's posterior (VampPrior), which the
            VAE hands over through :meth:`bind`.
    """

    conditional: bool = False
    uses_posterior: bool = False

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def log_prob(self, z: Tensor) -> Tensor:  # (B,)
        raise NotImplementedError

    def sample(self, n: int) -> Tensor:  # (n, dim)
        raise NotImplementedError

    def bind(self, posterior: Callable[[Tensor], tuple[Tensor, Tensor]]) -> None:
        """Receive the VAE's posterior ``x -> (mu, logvar)`` (used when :attr:`uses_posterior`)."""

    def kl_from_normal(self, mu: Tensor, logvar: Tensor, z: Tensor, c: Tensor | None = None) -> Tensor | None:
        """KL(N(mu, diag e^logvar) || p) per example in closed form, or ``None`` when there is none
        (the VAE then estimates it from the sample ``z``)."""
        return None

    def _ref(self) -> Tensor:
        """A tensor on the prior's device/dtype (buffers or parameters)."""
        for t in self.buffers():
            return t
        for t in self.parameters():
            return t
        raise RuntimeError("prior has no tensors")


@PRIORS.register("normal")
class StandardNormal(Prior):
    """N(0, I); the KL to a diagonal Gaussian posterior is closed form."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self.register_buffer("_device_marker", torch.zeros(()), persistent=False)

    def log_prob(self, z: Tensor) -> Tensor:
        return log_standard_normal(z)

    def sample(self, n: int) -> Tensor:
        ref = self._device_marker
        return torch.randn(n, self.dim, device=ref.device, dtype=ref.dtype)

    def kl_from_normal(self, mu: Tensor, logvar: Tensor, z: Tensor | None = None, c: Tensor | None = None) -> Tensor:
        return kl_normal_normal(mu, logvar)


class DiscretizedLogistic(Likelihood):
    r"""Per-value logistic discretized into ``levels`` equal bins of [0, 1] (Salimans et al. 2017).

    The decoder outputs a location μ and a log-scale log s per value. With bin width
    Δ = 1/(levels-1) and data on the grid x ∈ {0, Δ, ..., 1}:

    .. math::
        P(x) = σ\big((x + Δ/2 - μ)/s\big) - σ\big((x - Δ/2 - μ)/s\big),

    except that the lowest bin extends to -∞ and the highest to +∞, so the probabilities of
    the ``levels`` values sum to exactly 1 (the CDF telescopes).

    Args:
        levels: number of discrete values per pixel (256 for 8-bit images).

    References:
        Salimans, Karpathy, Chen & Kingma, "PixelCNN++", ICLR 2017.
    """

    n_params = 2

    def __init__(self, levels: int = 256) -> None:
        super().__init__()
        if levels < 2:
            raise ValueError(f"a discretized likelihood needs at least 2 levels, got {levels}")
        self.levels = levels

    def _loc_logscale(self, params: Tensor) -> tuple[Tensor, Tensor]:
        mu, log_s = params.chunk(2, dim=1)
        return mu, log_s.clamp(-7.0, 5.0)

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        mu, log_s = self._loc_logscale(params)
        x = x.reshape(mu.shape)
        half = 0.5 / (self.levels - 1)
        inv_s = torch.exp(-log_s)
        hi, lo = (x + half - mu) * inv_s, (x - half - mu) * inv_s
        log_cdf_hi = -F.softplus(-hi)  # log σ(hi): the lowest bin's mass
        log_sf_lo = -F.softplus(lo)  # log(1 - σ(lo)): the highest bin's mass
        delta = torch.sigmoid(hi) - torch.sigmoid(lo)
        # far in a tail the difference underflows: use density at the centre times the bin width
        mid = (x - mu) * inv_s
        log_pdf_mid = mid - log_s - 2 * F.softplus(mid) + math.log(2 * half)
        log_mid = torch.where(delta > 1e-5, torch.log(delta.clamp_min(1e-12)), log_pdf_mid)
        out = torch.where(x < half, log_cdf_hi, torch.where(x > 1 - half, log_sf_lo, log_mid))
        return out.flatten(1).sum(1)

    def mean(self, params: Tensor) -> Tensor:
        return self._loc_logscale(params)[0].clamp(0.0, 1.0)

    def sample(self, params: Tensor) -> Tensor:
        mu, log_s = self._loc_logscale(params)
        u = torch.rand_like(mu).clamp(1e-5, 1 - 1e-5)
        x = mu + log_s.exp() * (torch.log(u) - torch.log1p(-u))
        return (x.clamp(0, 1) * (self.levels - 1)).round() / (self.levels - 1)


@LIKELIHOODS.register("tokens")
class TokenCategorical(Likelihood):
    r"""A categorical distribution over the vocabulary at every position of a token sequence.

    The (autoregressive) decoder outputs logits ``(B, L-1, V)`` predicting ``x[:, 1:]`` from
    ``x[:, :-1]``; the log-likelihood sums over the real target tokens only,

    .. math:: \log p(x) = \sum_{l \ge 1} m_l \log \mathrm{softmax}(f_{l-1})_{x_l},

    with ``m`` the batch's mask (from ``x != <pad>`` when none is given), so padded positions
    never count, whatever tokens they hold.
    """

    def log_prob(self, params: Tensor, x: Tensor, mask: Tensor | None = None) -> Tensor:
        target = x[:, 1 : params.shape[1] + 1].long()  # (B, L-1)
        m = (target != PAD) if mask is None else mask[:, 1 : params.shape[1] + 1]
        lp = -F.cross_entropy(params.transpose(1, 2).float(), target, reduction="none")  # (B, L-1)
        # where(), not a product: a padded target may have probability 0 (log -inf), which 0 * x would keep
        return torch.where(m.bool(), lp, torch.zeros((), dtype=lp.dtype, device=lp.device)).sum(1)

    def mean(self, params: Tensor) -> Tensor:
        return params.argmax(-1)  # the most likely token at each position (teacher-forced)

    def sample(self, params: Tensor) -> Tensor:
        return torch.distributions.Categorical(logits=params).sample()


@PRIORS.register("mog")
class MixturePrior(Prior):
    r"""Learnable mixture of ``n_components`` diagonal Gaussians, p(z) = Σ_k π_k N(z; μ_k, σ_k²).

    Means start spread as N(0, I) draws, so the components are distinct from the first step.

    Args:
        dim: latent size.
        n_components: number of mixture components.
    """

    def __init__(self, dim: int, n_components: Annotated[int, Range(1, 10_000)] = 10) -> None:
        super().__init__(dim)
        self.means = nn.Parameter(torch.randn(n_components, dim))
        self.logvars = nn.Parameter(torch.zeros(n_components, dim))
        self.logits = nn.Parameter(torch.zeros(n_components))

    def log_prob(self, z: Tensor) -> Tensor:
        comp = log_normal_components(z, self.means, self.logvars)  # (..., K)
        return torch.logsumexp(comp + F.log_softmax(self.logits, -1), -1)

    def sample(self, n: int) -> Tensor:
        k = torch.multinomial(F.softmax(self.logits, -1), n, replacement=True)  # (n,)
        return self.means[k] + torch.randn(n, self.dim, device=self.means.device, dtype=self.means.dtype) * (0.5 * self.logvars[k]).exp()


@PRIORS.register("vamp")
class VampPrior(Prior):
    r"""VampPrior: p(z) = (1/K) Σ_k q(z | u_k), a mixture of the posteriors of K learned pseudo-inputs.

    The prior calls the owning VAE's posterior network, which it receives through
    :meth:`bind` (a plain attribute, not a submodule, so the encoder's weights are stored
    once, under the VAE).

    Args:
        dim: latent size.
        data_shape: shape of one pseudo-input (the data's shape).
        n_pseudo: number of pseudo-inputs K.

    References:
        Tomczak & Welling, "VAE with a VampPrior", AISTATS 2018.
    """

    uses_posterior = True

    def __init__(self, dim: int, data_shape: tuple[int, ...], n_pseudo: Annotated[int, Range(1, 100_000)] = 500) -> None:
        super().__init__(dim)
        # small random pseudo-inputs around the middle of [0, 1], as in the paper's N(0, 0.01) init
        self.pseudo = nn.Parameter(0.5 + 0.1 * torch.randn(n_pseudo, *data_shape))
        self._posterior = None

    def bind(self, posterior) -> None:  # type: ignore[no-untyped-def]
        """Use ``posterior(x) -> (mu, logvar)`` (the VAE's encoder) for the components."""
        self.__dict__["_posterior"] = posterior

    def components(self) -> tuple[Tensor, Tensor]:
        if self._posterior is None:
            raise RuntimeError("VampPrior.bind(posterior) must be called before use")
        return self._posterior(self.pseudo)  # (K, d) each

    def log_prob(self, z: Tensor) -> Tensor:
        mu, logvar = self.components()
        comp = log_normal_components(z, mu, logvar)  # (..., K)
        return torch.logsumexp(comp, -1) - math.log(mu.shape[0])

    def sample(self, n: int) -> Tensor:
        mu, logvar = self.components()
        k = torch.randint(0, mu.shape[0], (n,), device=mu.device)
        return mu[k] + torch.randn(n, self.dim, device=mu.device, dtype=mu.dtype) * (0.5 * logvar[k]).exp()


@PRIORS.register("flow")
class FlowPrior(Prior):
    r"""p(z) = N(f(z); 0, I) |det ∂f/∂z| with f a RealNVP coupling flow in latent space.

    Args:
        dim: latent size.
        n_layers: coupling layers of f.
        hidden: hidden widths of each coupling's conditioner MLP.

    References:
        Dinh, Sohl-Dickstein & Bengio, "Density estimation using Real NVP", ICLR 2017.
    """

    def __init__(self, dim: int, n_layers: Annotated[int, Range(1, 1000)] = 4, hidden: Sizes = (64, 64)) -> None:
        super().__init__(dim)
        from .nets.coupling import CouplingFlow

        self.flow = CouplingFlow(dim, n_layers, hidden)

    def log_prob(self, z: Tensor) -> Tensor:
        shape = z.shape[:-1]
        u, logdet = self.flow(z.reshape(-1, self.dim))
        return (log_standard_normal(u) + logdet).reshape(shape)

    def sample(self, n: int) -> Tensor:
        ref = next(self.flow.parameters())
        return self.flow.inverse(torch.randn(n, self.dim, device=ref.device, dtype=ref.dtype))


def gumbel_softmax(logits: Tensor, tau: float | Tensor) -> Tensor:
    r"""A relaxed one-hot sample softmax((logits + g) / τ), g ~ Gumbel(0, 1), along the last dim.

    As τ → 0 the samples approach one-hot draws from Categorical(softmax(logits)).

    References:
        Jang, Gu & Poole, "Categorical Reparameterization with Gumbel-Softmax", ICLR 2017.
        Maddison, Mnih & Teh, "The Concrete Distribution", ICLR 2017.
    """
    u = torch.rand_like(logits).clamp(1e-10, 1 - 1e-7)
    return torch.softmax((logits - torch.log(-torch.log(u))) / tau, dim=-1)


class UniformCategorical(Prior):
    """``n`` independent uniform categoricals over ``k`` values, as flat one-hot ``(B, n*k)`` vectors."""

    def __init__(self, n: int, k: int) -> None:
        super().__init__(n * k)
        self.n, self.k = n, k
        self.register_buffer("_device_marker", torch.zeros(()), persistent=False)

    def log_prob(self, z: Tensor) -> Tensor:
        # every one-hot configuration has the same mass k^-n
        return torch.full(z.shape[:-1], -self.n * math.log(self.k), device=z.device, dtype=z.dtype)

    def sample(self, n: int) -> Tensor:
        ref = self._device_marker
        idx = torch.randint(0, self.k, (n, self.n), device=ref.device)
        return F.one_hot(idx, self.k).to(ref.dtype).flatten(1)


def _rest_normal(n: int, dim: int, ref: Tensor) -> Tensor:
    """N(0, I) draws for the dimensions beyond the first two, ``(n, dim - 2)``."""
    return torch.randn(n, max(dim - 2, 0), device=ref.device, dtype=ref.dtype)


@PRIORS.register("ring")
class RingMixture(Prior):
    r"""A fixed mixture of K isotropic Gaussians with means evenly spaced on a circle.

    In the first two dimensions, p(z) = (1/K) Σ_k N(z; r(cos 2πk/K, sin 2πk/K), σ² I); further
    dimensions (``dim > 2``) are N(0, 1). Nothing is learned: it is a target an adversarial
    autoencoder's codes are pushed to (the 10-component mixture of Makhzani et al. 2016, Fig. 4).
    ``sample(n, c)`` draws from the components ``c`` (labels mod K), for label-guided matching.

    References:
        Makhzani, Shlens, Jaitly, Goodfellow & Frey, "Adversarial Autoencoders", ICLR 2016 workshop.
    """

    def __init__(self, dim: int, n_components: Annotated[int, Range(1, 10_000)] = 10, radius: PosFloat = 4.0, std: PosFloat = 0.5) -> None:
        super().__init__(dim)
        if dim < 2:
            raise ValueError(f"the ring mixture lives in at least 2 dimensions, got {dim}")
        angle = 2 * math.pi * torch.arange(n_components, dtype=torch.float32) / n_components
        self.register_buffer("centers", radius * torch.stack([angle.cos(), angle.sin()], 1))  # (K, 2)
        self.std = std

    def log_prob(self, z: Tensor) -> Tensor:
        logvar = torch.full_like(self.centers, 2 * math.log(self.std))
        ring = torch.logsumexp(log_normal_components(z[..., :2], self.centers, logvar), -1) - math.log(len(self.centers))
        return ring + log_standard_normal(z[..., 2:])

    def sample(self, n: int, c: Tensor | None = None) -> Tensor:
        K = len(self.centers)
        k = torch.randint(0, K, (n,), device=self.centers.device) if c is None else c.long().to(self.centers.device) % K
        first = self.centers[k] + self.std * torch.randn(n, 2, device=self.centers.device, dtype=self.centers.dtype)
        return torch.cat([first, _rest_normal(n, self.dim, self.centers)], 1)


@PRIORS.register("swiss_roll")
class SwissRoll(Prior):
    r"""A 2-D swiss-roll spiral (further dimensions N(0, 1)); a prior one can sample, not evaluate.

    t = 1.5π(1 + 2u), u ~ U(0, 1); z = t (cos t, sin t) / (1.8π) + N(0, noise²) — a spiral of
    two and a half turns within about [-2.5, 2.5]². Adversarial matching needs only samples,
    which is why it can use a prior with no tractable density (Makhzani et al. 2016, Fig. 4).
    """

    def __init__(self, dim: int, noise: NonNegFloat = 0.05) -> None:
        super().__init__(dim)
        if dim < 2:
            raise ValueError(f"the swiss roll lives in at least 2 dimensions, got {dim}")
        self.noise = noise
        self.register_buffer("_device_marker", torch.zeros(()), persistent=False)

    def sample(self, n: int) -> Tensor:
        ref = self._device_marker
        t = 1.5 * math.pi * (1 + 2 * torch.rand(n, device=ref.device, dtype=ref.dtype))
        first = torch.stack([t * t.cos(), t * t.sin()], 1) / (1.8 * math.pi)
        first = first + self.noise * torch.randn_like(first)
        return torch.cat([first, _rest_normal(n, self.dim, ref)], 1)


def can_sample(prior: Prior) -> bool:
    """Whether ``prior`` implements :meth:`Prior.sample` (a density-only prior does not)."""
    return type(prior).sample is not Prior.sample


@PRIORS.register("class")
class ClassConditionalNormal(Prior):
    r"""A learned Gaussian per class, p(z | y) = N(μ_y, diag σ_y²) (Sohn et al. 2015's prior network
    for a label input). Without a label it is the uniform mixture over classes.

    References:
        Sohn, Lee & Yan, "Learning Structured Output Representation using Deep Conditional
        Generative Models", NeurIPS 2015.
    """

    conditional = True

    def __init__(self, dim: int, num_classes: int) -> None:
        super().__init__(dim)
        if num_classes < 1:
            raise GenzooError("prior 'class' learns a Gaussian per label and needs labelled data; choose another prior")
        self.means = nn.Parameter(torch.zeros(num_classes, dim))
        self.logvars = nn.Parameter(torch.zeros(num_classes, dim))

    def log_prob(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        if c is None:
            return torch.logsumexp(log_normal_components(z, self.means, self.logvars), -1) - math.log(self.means.shape[0])
        return log_normal_diag(z, self.means[c.long()], self.logvars[c.long()])

    def kl_from_normal(self, mu: Tensor, logvar: Tensor, z: Tensor, c: Tensor | None = None) -> Tensor:
        if c is None:  # mixture prior: one-sample Monte Carlo
            return log_normal_diag(z, mu, logvar) - self.log_prob(z)
        return kl_normal_normal(mu, logvar, self.means[c.long()], self.logvars[c.long()])

    def sample(self, n: int, c: Tensor | None = None) -> Tensor:
        if c is None:
            c = torch.randint(0, self.means.shape[0], (n,), device=self.means.device)
        c = c.long()
        return self.means[c] + torch.randn(n, self.dim, device=self.means.device, dtype=self.means.dtype) * (0.5 * self.logvars[c]).exp()


class ConditionalNormal(Prior):
    r"""A prior network p(z | x) = N(μ(x), diag σ²(x)) over a continuous condition x.

    This is the learned conditional prior of Sohn et al.'s conditional VAE for structured
    output prediction: ``net`` maps the condition ``(B, D_c)`` to ``(B, 2 * dim)`` (mean and
    log-variance). The KL from a diagonal Gaussian posterior is closed form, and
    :meth:`rsample` is reparameterised so that the GSNN term (decoding z ~ p(z|x)) trains it.

    References:
        Sohn, Lee & Yan, "Learning Structured Output Representation using Deep Conditional
        Generative Models", NeurIPS 2015.
    """

    conditional = True

    def __init__(self, dim: int, net: nn.Module) -> None:
        super().__init__(dim)
        self.net = net

    def params(self, c: Tensor | None) -> tuple[Tensor, Tensor]:
        if c is None:
            raise ValueError("a conditional prior p(z|x) needs its condition x")
        mu, logvar = self.net(c.flatten(1)).chunk(2, dim=-1)  # (B, dim) each
        return mu, logvar

    def log_prob(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        return log_normal_diag(z, *self.params(c))

    def kl_from_normal(self, mu: Tensor, logvar: Tensor, z: Tensor, c: Tensor | None = None) -> Tensor:
        return kl_normal_normal(mu, logvar, *self.params(c))

    def rsample(self, c: Tensor) -> Tensor:
        mu, logvar = self.params(c)
        return mu + torch.randn_like(mu) * (0.5 * logvar).exp()

    def sample(self, n: int, c: Tensor | None = None) -> Tensor:
        if c is None or len(c) != n:
            raise ValueError(f"a conditional prior draws one z per condition; pass {n} conditions")
        return self.rsample(c)


# -- the likelihood as a factory option --------------------------------------------------------


@LIKELIHOODS.register("logistic", help="discretized logistic over the data's info.levels values (Salimans et al. 2017)")
def logistic(info: Any) -> DiscretizedLogistic:
    """:class:`DiscretizedLogistic` over the ``info.levels`` values of discrete data in [0, 1]."""
    if info.levels < 2 or tuple(info.value_range) != (0.0, 1.0):
        raise GenzooError(f"likelihood logistic needs discrete data in [0, 1] (info.levels >= 2), but {info.name} has "
                          f"levels={info.levels}; use bernoulli or gaussian")
    return DiscretizedLogistic(info.levels)


def auto_likelihood(info: Any) -> str:
    """bernoulli for images in [0, 1], gaussian otherwise."""
    return "bernoulli" if info.kind == "image" and tuple(info.value_range) == (0.0, 1.0) else "gaussian"


def _likelihood_presets(info: Any) -> dict[str, dict[str, Any]]:
    # a unit initial sigma drowns image detail: images start from sigma 0.1 (learned)
    return {"gaussian": {"sigma": 0.1}} if info is not None and info.kind == "image" else {}


def likelihood(help: str = "p(x | decoder output): auto, bernoulli, gaussian or logistic") -> Component:
    """Declare a factory parameter as a likelihood of :data:`LIKELIHOODS` (``auto``: bernoulli for images in [0, 1],
    gaussian otherwise; a Gaussian on images starts from sigma 0.1)."""
    return Component(LIKELIHOODS, auto_likelihood, _likelihood_presets, help=help)


def prior(default: str = "normal", help: str = "p(z): normal, mog, vamp, flow or class", **presets: Any) -> Component:
    """Declare a factory parameter as a latent prior of :data:`PRIORS` (``--set model.prior=vamp``)."""
    return Component(PRIORS, default, dict(presets), help=help)
