"""Models of token sequences (SMILES): the MOSES baselines CharRNN, the SMILES VAE and the SMILES AAE.

* ``char_rnn``: an autoregressive language model p(x) = Π_l p(x_l | x_<l) over an LSTM
  (Segler et al. 2018), trained by maximum likelihood (teacher forcing); exact log p(x).
* ``smiles_vae``: the :class:`~genzoo.models.autoencoders.VAE` objective itself, over a
  bidirectional GRU encoder, a GRU decoder fed z at every step and a per-token categorical
  likelihood (Gómez-Bombarelli et al. 2018), with MOSES's linear KL annealing (below).
* ``smiles_aae``: the adversarial autoencoder of :mod:`genzoo.models.latent_matching`
  (``AE(match=AdversarialMatch(...))``, the paper's two phases) over the same sequence
  networks, codes matched to N(0, I) by a latent critic (Kadurin et al. 2017).

Both sample token by token with a softmax temperature (:class:`~genzoo.models.base.HasTemperature`).
Defaults are the sizes of the MOSES baselines (Polykovskiy et al. 2020, their code's configs).

MOSES's VAE minimises ``CE + w KL`` with CE the cross-entropy *averaged over the target tokens
of the batch* and w rising linearly from 0 to 0.05 over the whole training. genzoo's VAE sums
log p(x|z) over a molecule's tokens, so the same objective (up to the constant factor ℓ̄, the
mean number of target tokens per molecule, 36.4 on MOSES train) has β = 0.05 ℓ̄ = 1.82 at
the end of training, reached by ``kl_warmup`` = the number of training updates.

References:
    Segler, Kogej, Tyrchan & Waller, "Generating focused molecule libraries for drug discovery
    with recurrent neural networks", ACS Central Science 2018.
    Gómez-Bombarelli et al., "Automatic chemical design using a data-driven continuous
    representation of molecules", ACS Central Science 2018.
    Kadurin et al., "druGAN: an advanced generative adversarial autoencoder model for de novo
    generation of new molecules with desired molecular properties in silico", Mol. Pharm. 2017.
    Polykovskiy et al., "Molecular Sets (MOSES): A Benchmarking Platform for Molecular
    Generation Models", Frontiers in Pharmacology 2020.
"""

from __future__ import annotations

from typing import Annotated

import torch
from torch import Tensor

from ..config import NonNegInt, Range, Size, Spec, Weight
from ..data.base import Batch, DataInfo
from ..data.kinds import PAD, default_net
from ..distributions import StandardNormal, TokenCategorical
from ..errors import GenzooError
from ..nets.base import net
from ..nets.sequence import LSTMNet
from ..registry import MODELS
from .autoencoders import AE, VAE
from .base import GenerativeModel
from .latent_matching import ADAM_CRITIC, AdversarialMatch

#: Mean number of target tokens (SMILES tokens + <eos>) per molecule of MOSES train: 36.37.
MOSES_MEAN_TARGETS = 36.4


def _vocab_size(info: DataInfo) -> int:
    if info.kind != "sequence":
        raise GenzooError(f"this model takes token sequences (e.g. --data moses or smiles:FILE), but {info.name} holds {info.kind} data")
    return len(info.extras["vocab"])


class CharRNN(GenerativeModel):
    r"""Autoregressive language model over tokens:

    .. math:: \log p(x) = \sum_{l=1}^{n+1} \log p_\theta(x_l \mid x_{<l}), \quad x_0 = \langle bos\rangle,\ x_{n+1} = \langle eos\rangle

    trained on the mean negative log-likelihood per target token (as MOSES's CharRNN).

    Args:
        net: teacher-forced network ``net(None, x) -> (B, L-1, V)`` logits with ``generate``
            (:class:`~genzoo.nets.sequence.LSTMNet`).
        info: the data's metadata (vocabulary, row length).
        temperature: softmax temperature of :meth:`sample`.
    """

    def __init__(self, net: LSTMNet, info: DataInfo, temperature: float = 1.0) -> None:
        super().__init__()
        self.net, self.info, self.sample_temperature = net, info, temperature
        self.likelihood = TokenCategorical()

    def log_prob(self, x: Tensor, c: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        """Exact log p(x) in nats per sequence ``(B,)``; positions where ``mask`` is False do not count."""
        return self.likelihood.log_prob(self.net(None, x), x, mask)

    def loss(self, batch: Batch) -> dict[str, Tensor]:
        mask = (batch.x != PAD) if batch.mask is None else batch.mask
        log_p = self.log_prob(batch.x, batch.c, mask)  # (B,)
        n_targets = mask[:, 1:].sum(1).to(log_p.dtype)  # (B,) tokens predicted per sequence (<eos> included)
        nll = batch.mean(-log_p)
        per_token = nll / batch.mean(n_targets)  # Σ w·nll / Σ w·n: the mean over every real target token
        return {"loss": per_token, "nll": nll, "nll_per_token": per_token.detach()}

    @torch.no_grad()
    def sample(self, n: int, c: Tensor | None = None) -> Tensor:
        """``(n, L)`` token rows (``<bos>`` first, padded after ``<eos>``)."""
        return self.net.generate(None, n, self.info.shape[0], self.sample_temperature)


LANGUAGE_MODEL = net(default_net("language_model"), help="the language model network (auto: lstm for token sequences)")
SEQ_ENCODER = net(default_net("encoder"), help="q(z|x) network: tokens -> 2 x latent_dim (auto: gru_encoder for token sequences)")
SEQ_DECODER = net(default_net("decoder"), help="p(x|z) network: z -> token logits, teacher-forced (auto: gru_decoder)")


def _token_shape(info: DataInfo) -> tuple[int, int]:
    """Tokens of length L over V symbols: the (L, V) shape sequence networks are built for."""
    return (int(info.shape[0]), _vocab_size(info))


@MODELS.register("char_rnn", help="CharRNN: LSTM language model over SMILES tokens (Segler et al. 2018; MOSES baseline)",
                 data_kinds=("sequence",), tiny_fit={"model": {"net": {"hidden": 64, "layers": 1}}})
def char_rnn(info: DataInfo, net: Spec = LANGUAGE_MODEL, temperature: Annotated[float, Range(0, 100, lo_open=True)] = 1.0) -> CharRNN:
    """MOSES's CharRNN: 3 LSTM layers of 768 units, dropout 0.2 (MOSES trains it with lr 1e-3, batch 64).

    Args:
        net: the language model (``--set model.net.hidden=256``).
        temperature: softmax temperature when sampling.
    """
    shape = _token_shape(info)
    return CharRNN(net.build(in_shape=shape, out_shape=shape), info, temperature)


@MODELS.register("smiles_vae", help="SMILES VAE: bi-GRU encoder, GRU decoder, KL annealing (Gómez-Bombarelli et al. 2018; MOSES baseline)",
                 data_kinds=("sequence",),
                 tiny_fit={"model": {"latent_dim": 8, "encoder": {"hidden": 32}, "decoder": {"hidden": 64, "layers": 1}}})
def smiles_vae(
    info: DataInfo,
    latent_dim: Size = 128,
    encoder: Spec = SEQ_ENCODER,
    decoder: Spec = SEQ_DECODER,
    beta: Weight = round(0.05 * MOSES_MEAN_TARGETS, 3),
    kl_warmup: NonNegInt = 300_000,
    temperature: Annotated[float, Range(0, 100, lo_open=True)] = 1.0,
) -> VAE:
    """The :class:`VAE` with sequence networks, sized as MOSES's: bi-GRU(256) encoder, 3 x GRU(512) decoder, z of 128.

    Args:
        latent_dim: size of z.
        encoder, decoder: the networks (``--set model.decoder.hidden=256``).
        beta, kl_warmup: MOSES's KL annealing (see the module notes): the weight rises linearly
            from 0 to ``beta`` over ``kl_warmup`` updates; set ``kl_warmup`` to the run's number
            of updates to anneal over all of training as MOSES does (its 100 epochs of batch 512
            are ~309k updates).
        temperature: softmax temperature when sampling.
    """
    shape = _token_shape(info)
    enc = encoder.build(in_shape=shape, out_shape=(2 * latent_dim,))
    dec = decoder.build(in_shape=(latent_dim,), out_shape=shape)
    model = VAE(enc, dec, TokenCategorical(), info, latent_dim, beta=beta, kl_warmup=kl_warmup)
    model.sample_temperature = temperature
    return model


AAE_ENCODER = net(default_net("encoder"), gru_encoder={"hidden": 512, "dropout": 0.0},
                  help="code network: tokens -> latent_dim (auto: gru_encoder; MOSES: bidirectional, 512)")
AAE_DECODER = net(default_net("decoder"), gru_decoder={"hidden": 512, "layers": 2},
                  help="p(x|z) network: z -> token logits, teacher-forced (auto: gru_decoder; MOSES: 2 layers of 512)")
SEQ_CRITIC = net("mlp", mlp={"hidden": (640, 256), "act": "leaky_relu"}, help="latent critic: code -> score (MOSES: 640-256)")


@MODELS.register("smiles_aae", help="SMILES AAE: GRU encoder and decoder, a latent critic matches the codes to N(0, I) (Kadurin et al. 2017; MOSES baseline)",
                 data_kinds=("sequence",),
                 tiny_fit={"model": {"latent_dim": 8, "encoder": {"hidden": 32}, "decoder": {"hidden": 64, "layers": 1},
                                     "critic": {"hidden": (32,)}}})
def smiles_aae(
    info: DataInfo,
    latent_dim: Size = 128,
    encoder: Spec = AAE_ENCODER,
    decoder: Spec = AAE_DECODER,
    critic: Spec = SEQ_CRITIC,
    weight: Weight = 1.0,
    temperature: Annotated[float, Range(0, 100, lo_open=True)] = 1.0,
) -> AE:
    """The adversarial autoencoder of :mod:`genzoo.models.latent_matching` (``aae``) with sequence networks.

    Args:
        latent_dim: size of the code.
        encoder, decoder, critic: the networks (``--set model.critic.hidden=[640,256]``).
        weight: λ of the encoder's adversarial term.
        temperature: softmax temperature when sampling.

    MOSES's AAE: a bidirectional encoder of 512 units, a 2-layer decoder of 512, codes of 128,
    a 640-256 critic, the paper's two phases (reconstruction; then critic, then encoder against
    it). genzoo's uses GRUs where MOSES uses LSTMs.
    """
    shape = _token_shape(info)
    enc = encoder.build(in_shape=shape, out_shape=(latent_dim,))
    dec = decoder.build(in_shape=(latent_dim,), out_shape=shape)
    match = AdversarialMatch(critic.build(in_shape=(latent_dim,), out_shape=(1,)), StandardNormal(latent_dim), "non_saturating",
                             weight, critic_optim=dict(ADAM_CRITIC), generator_optim=dict(ADAM_CRITIC))
    model = AE(enc, dec, TokenCategorical(), info, latent_dim, match=match, phases="separate")
    model.sample_temperature = temperature
    return model
