r"""VQ-VAE: an autoencoder whose code is a grid of nearest codebook vectors, with a learned
autoregressive prior over the code indices so that the model can sample.

The encoder output z_e (``n_latents`` vectors of size ``emb_dim``) is replaced by its nearest
codebook entries e_k. The decoder sees z_q = z_e + sg[e_k − z_e] (straight-through: the
forward pass uses e_k, the gradient flows to z_e unchanged). The loss (van den Oord et al.
2017, eq. 3) is

.. math::
    -\log p(x | z_q) + \|sg[z_e] - e\|^2 + β \|z_e - sg[e]\|^2,

or, with ``ema=True``, the codebook term is replaced by exponential-moving-average updates of
the codebook (paper's App. A.1), done under ``no_grad`` inside the loss.

The prior p(k_1..k_n) = Π_i p(k_i | k_<i) is a MADE-style masked MLP (Germain et al. 2015),
trained by a second player on the codes of the current encoder, computed without gradient,
so the prior never changes the autoencoder (the paper's second stage, run alongside).

References:
    van den Oord, Vinyals & Kavukcuoglu, "Neural Discrete Representation Learning", NeurIPS 2017.
    Germain, Gregor, Murray & Larochelle, "MADE: Masked Autoencoder for Distribution Estimation", ICML 2015.
"""

from __future__ import annotations

from typing import Annotated


import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import Component, Range, Size, Spec, Weight
from ..data.base import Batch, Data, DataInfo
from ..distributions import Likelihood
from ..registry import MODELS, Registry
from .autoencoders import DECODER, ENCODER, LIKELIHOOD, AE, build_nets
from .base import Player


class MaskedLinear(nn.Linear):
    def __init__(self, d_in: int, d_out: int, mask: Tensor) -> None:
        super().__init__(d_in, d_out)
        self.register_buffer("mask", mask.float(), persistent=False)  # rebuilt from the degrees

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


#: priors over a grid of ``n`` code indices in ``{0..k-1}``: ``log_prob(idx (B, n)) -> (B,)``, ``sample(m, device)``
CODE_PRIORS = Registry("code prior", context=("n", "k"))


class CodePrior(nn.Module):
    """Autoregressive categorical prior over ``n`` code indices in ``{0..K-1}`` (MADE).

    Input and output unit degrees are the positions 1..n; hidden degrees cycle through
    1..n-1; a connection exists when the degree does not decrease (strictly increases into
    the output), so logit i depends only on codes < i.
    """

    def __init__(self, n: int, k: int, hidden: int = 256) -> None:
        super().__init__()
        self.n, self.k = n, k
        d_in = torch.arange(1, n + 1).repeat_interleave(k)  # (n*K,)
        d_h = torch.arange(hidden) % max(1, n - 1) + 1  # (H,)
        self.l1 = MaskedLinear(n * k, hidden, d_h[:, None] >= d_in[None, :])
        self.l2 = MaskedLinear(hidden, hidden, d_h[:, None] >= d_h[None, :])
        self.l3 = MaskedLinear(hidden, n * k, d_in[:, None] > d_h[None, :])

    def logits(self, idx: Tensor) -> Tensor:
        x = F.one_hot(idx, self.k).float().flatten(1)  # (B, n*K)
        h = F.relu(self.l2(F.relu(self.l1(x))))
        return self.l3(h).view(-1, self.n, self.k)  # (B, n, K)

    def log_prob(self, idx: Tensor) -> Tensor:
        return -F.cross_entropy(self.logits(idx).transpose(1, 2), idx, reduction="none").sum(1)  # (B,)

    @torch.no_grad()
    def sample(self, m: int, device: torch.device) -> Tensor:
        idx = torch.zeros(m, self.n, dtype=torch.long, device=device)
        for i in range(self.n):  # one pass per position: position i only reads positions < i
            idx[:, i] = torch.distributions.Categorical(logits=self.logits(idx)[:, i]).sample()
        return idx


class VQVAE(AE):
    """Vector-quantised autoencoder with a learned code prior (see the module docstring).

    Args:
        encoder: ``x -> (B, n_latents * emb_dim)``; decoder: ``(B, n_latents * emb_dim) -> params``.
        n_latents, n_codes, emb_dim: code grid length, codebook size K and vector size D.
        beta: commitment weight β.
        ema: update the codebook by moving averages (decay ``ema_decay``) instead of its loss.
        code_prior: a prior over the ``(B, n_latents)`` code indices (an entry of
            :data:`CODE_PRIORS`); default: MADE with 256 hidden units.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, likelihood: Likelihood, info: DataInfo,
                 n_latents: int, n_codes: int, emb_dim: int, beta: float = 0.25, ema: bool = False,
                 ema_decay: float = 0.99, code_prior: nn.Module | None = None) -> None:
        super().__init__(encoder, decoder, likelihood, info, n_latents * emb_dim)
        self.n_latents, self.n_codes, self.emb_dim = n_latents, n_codes, emb_dim
        self.beta, self.ema, self.ema_decay = beta, ema, ema_decay
        init = torch.empty(n_codes, emb_dim).uniform_(-1.0 / n_codes, 1.0 / n_codes)
        if ema:  # the codebook is state, not a parameter: moving averages of assigned encodings
            self.register_buffer("codebook", init)
            self.register_buffer("ema_count", torch.ones(n_codes))
            self.register_buffer("ema_sum", init.clone())
        else:
            self.codebook = nn.Parameter(init)
        self.code_prior = code_prior if code_prior is not None else CodePrior(n_latents, n_codes)

    def quantize(self, ze: Tensor) -> tuple[Tensor, Tensor]:
        """Nearest codebook index ``(B, n)`` and vector ``(B, n, D)`` of each ``ze (B, n, D)``."""
        d = (ze.pow(2).sum(-1, keepdim=True) - 2 * ze @ self.codebook.T + self.codebook.pow(2).sum(-1))  # (B, n, K)
        idx = d.argmin(-1)
        return idx, self.codebook[idx]

    def encode_continuous(self, x: Tensor) -> Tensor:
        return self.encoder(x).view(x.shape[0], self.n_latents, self.emb_dim)  # (B, n, D)

    def encode(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        return self.quantize(self.encode_continuous(x))[1].flatten(1)  # (B, n*D)

    def codes(self, x: Tensor) -> Tensor:
        return self.quantize(self.encode_continuous(x))[0]  # (B, n)

    @torch.no_grad()
    def _ema_update(self, ze: Tensor, idx: Tensor, weight: Tensor | None = None) -> None:
        onehot = F.one_hot(idx.flatten(), self.n_codes).to(ze.dtype)  # (B*n, K)
        if weight is not None:  # weighted examples: their encodings count by their weight (normalised to mean 1)
            w = weight.to(ze.dtype) * (len(weight) / weight.to(ze.dtype).sum())
            onehot = onehot * w.repeat_interleave(idx.shape[1])[:, None]
        self.ema_count.mul_(self.ema_decay).add_(onehot.sum(0), alpha=1 - self.ema_decay)
        self.ema_sum.mul_(self.ema_decay).add_(onehot.T @ ze.reshape(-1, self.emb_dim), alpha=1 - self.ema_decay)
        n = self.ema_count.sum()  # Laplace smoothing keeps unused codes finite
        count = (self.ema_count + 1e-5) / (n + self.n_codes * 1e-5) * n
        self.codebook.copy_(self.ema_sum / count[:, None])

    def loss(self, batch: Batch) -> dict[str, Tensor]:
        ze = self.encode_continuous(batch.x)
        idx, e = self.quantize(ze)
        zq = ze + (e - ze).detach()  # straight-through estimator
        rec = batch.mean(-self.likelihood.log_prob(self.decoder_params(zq.flatten(1)), batch.x))
        # (B, n) code positions are not the data's positions: average them per example first
        commit = batch.mean((ze - e.detach()).pow(2).sum(-1).mean(1))
        out = {"rec": rec, "commit": commit}
        if self.ema:
            if self.training:
                self._ema_update(ze.detach(), idx, batch.weight)
            out["loss"] = rec + self.beta * commit
        else:
            vq = batch.mean((ze.detach() - e).pow(2).sum(-1).mean(1))
            out.update(loss=rec + vq + self.beta * commit, vq=vq)
        out["perplexity"] = torch.exp(-(lambda p: (p * (p + 1e-10).log()).sum())(F.one_hot(idx.flatten(), self.n_codes).float().mean(0)))
        return out

    def prior_loss(self, batch: Batch) -> dict[str, Tensor]:
        with torch.no_grad():
            idx = self.codes(batch.x)
        nll = batch.mean(-self.code_prior.log_prob(idx))
        return {"loss": nll, "code_nll": nll}

    def players(self) -> list[Player]:
        prior = {id(p) for p in self.code_prior.parameters()}
        ae_params = [p for p in self.parameters() if p.requires_grad and id(p) not in prior]
        return [Player("model", ae_params, self.loss), Player("prior", list(self.code_prior.parameters()), self.prior_loss)]

    def on_fit_end(self, data: Data) -> None:
        pass  # samples come from the learned code prior

    @torch.no_grad()
    def sample(self, n: int, c: Tensor | None = None) -> Tensor:
        idx = self.code_prior.sample(n, self.device)
        return self.decode(self.codebook[idx].flatten(1))


@CODE_PRIORS.register("made", help="autoregressive MADE over the code indices (Germain et al. 2015)")
def made(n: int, k: int, hidden: Size = 256) -> CodePrior:
    """A :class:`CodePrior`.

    Args:
        hidden: width of its two masked hidden layers.
    """
    return CodePrior(n, k, hidden)


@MODELS.register("vqvae", help="VQ-VAE (van den Oord et al. 2017) with a MADE prior over code indices", data_kinds=("image",))
def vqvae(
    info: DataInfo,
    n_latents: Size = 16,
    n_codes: Annotated[int, Range(2, 2**16)] = 64,
    emb_dim: Size = 16,
    encoder: Spec = ENCODER,
    decoder: Spec = DECODER,
    likelihood: Spec = LIKELIHOOD,
    beta: Weight = 0.25,
    ema: bool = False,
    ema_decay: Annotated[float, Range(0, 1, hi_open=True)] = 0.99,
    code_prior: Spec = Component(CODE_PRIORS, "made", help="the prior over code indices, trained alongside (made)"),
) -> VQVAE:
    """Args:
        n_latents, n_codes, emb_dim: code grid length, codebook size K and vector size D.
        beta: commitment weight.
        ema, ema_decay: update the codebook by moving averages instead of its loss.
    """
    lik = likelihood.build(info=info)
    d = n_latents * emb_dim
    enc, dec = build_nets(info, encoder, decoder, lik, d, d)
    return VQVAE(enc, dec, lik, info, n_latents, n_codes, emb_dim, beta, ema, ema_decay,
                 code_prior.build(n=n_latents, k=n_codes))
