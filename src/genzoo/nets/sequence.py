"""Sequence networks over integer tokens: an LSTM language model, a GRU encoder and decoder.

Rows are ``<bos> t_1 .. t_n <eos> <pad> ...`` (``<pad>`` = 0, ``<bos>`` = 1, ``<eos>`` = 2, as in
:mod:`genzoo.data.sequence`); ``mask (B, L)`` marks the real tokens. The language model and
the decoder are causal, so a padded position can only influence outputs at later (padded)
positions, which every loss masks out; the bidirectional encoder packs its input by the
mask's lengths, so padding never reaches it at all.

Autoregressive networks (:class:`Autoregressive`) are teacher-forced in training
(``forward(h, x)`` returns the logits of ``x[:, 1:]`` given ``x[:, :-1]``) and sampled token
by token with a softmax temperature in :meth:`generate`.

References:
    Segler et al., "Generating focused molecule libraries for drug discovery with recurrent
    neural networks", ACS Central Science 2018 (CharRNN).
    Gómez-Bombarelli et al., "Automatic chemical design using a data-driven continuous
    representation of molecules", ACS Central Science 2018 (SMILES VAE).
    Polykovskiy et al., "Molecular Sets (MOSES)", 2020 (the baselines' sizes).
"""

from __future__ import annotations

from typing import Annotated, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import Range, Size
from ..data.kinds import PAD
from ..data.sequence import BOS, EOS
from ..errors import GenzooError
from ..registry import NETS


@runtime_checkable
class Autoregressive(Protocol):
    """A network that is teacher-forced on the target tokens and sampled token by token."""

    def generate(self, h: Tensor | None, n: int, length: int, temperature: float = 1.0) -> Tensor: ...


class TokenHead(nn.Linear):
    """Linear layer to vocabulary logits that never predicts ``<pad>`` or ``<bos>`` (their logits are -inf).

    So the model's distribution is normalised over the sequences it can emit: tokens, then ``<eos>``.
    """

    def __init__(self, hidden: int, vocab_size: int) -> None:
        super().__init__(hidden, vocab_size)
        never = torch.zeros(vocab_size)
        never[PAD] = never[BOS] = float("-inf")
        self.register_buffer("never", never, persistent=False)

    def forward(self, h: Tensor) -> Tensor:
        return super().forward(h) + self.never.to(h.dtype)


def sample_tokens(step, state, n: int, length: int, temperature: float, device: torch.device) -> Tensor:
    """Shared sampling loop: ``step(tokens (n,), state) -> (logits (n, V), state)``; returns ``(n, length)``.

    Position 0 is ``<bos>``; each row stops at its first ``<eos>`` and is padded after it.
    ``temperature`` divides the logits (``0`` picks the most likely token: greedy decoding).
    """
    out = torch.full((n, length), PAD, dtype=torch.long, device=device)
    out[:, 0] = BOS
    tok = out[:, 0]
    done = torch.zeros(n, dtype=torch.bool, device=device)
    for i in range(1, length):
        logits, state = step(tok, state)  # (n, V)
        if temperature <= 0:
            tok = logits.argmax(-1)
        else:
            tok = torch.multinomial(F.softmax(logits.float() / temperature, -1), 1)[:, 0]
        tok = torch.where(done, torch.full_like(tok, PAD), tok)
        out[:, i] = tok
        done = done | (tok == EOS)
        if bool(done.all()):
            break
    return out


class LSTMNet(nn.Module):
    """Embedding -> ``layers`` x LSTM(``hidden``) -> logits over the vocabulary.

    Example:
        >>> net = lstm((4, 10), (4, 10), hidden=16, layers=1, embedding=8)
        >>> net(None, torch.tensor([[1, 4, 5, 2]])).shape
        torch.Size([1, 3, 10])
    """

    def __init__(self, vocab_size: int, hidden: int = 768, layers: int = 3, embedding: int = 32, dropout: float = 0.2) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embedding, padding_idx=PAD)
        self.rnn = nn.LSTM(embedding, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.out = TokenHead(hidden, vocab_size)

    def forward(self, h: Tensor | None, x: Tensor) -> Tensor:
        """Teacher forcing: logits ``(B, L-1, V)`` of ``x[:, 1:]`` given ``x[:, :-1]`` (``h`` unused: unconditional)."""
        y, _ = self.rnn(self.embed(x[:, :-1].long()))  # (B, L-1, hidden)
        return self.out(y)

    @torch.no_grad()
    def generate(self, h: Tensor | None, n: int, length: int, temperature: float = 1.0) -> Tensor:
        def step(tok: Tensor, state):  # type: ignore[no-untyped-def]
            y, state = self.rnn(self.embed(tok)[:, None], state)
            return self.out(y[:, 0]), state

        return sample_tokens(step, None, n, length, temperature, self.out.weight.device)


class GRUEncoder(nn.Module):
    """Embedding -> ``layers`` x (bi)GRU(``hidden``), packed by length -> last states -> Linear(``out_dim``).

    MOSES's VAE encoder: one bidirectional GRU layer of 256 units.
    """

    def __init__(self, vocab_size: int, out_dim: int, hidden: int = 256, layers: int = 1, embedding: int = 32,
                 bidirectional: bool = True, dropout: float = 0.5) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embedding, padding_idx=PAD)
        self.rnn = nn.GRU(embedding, hidden, layers, batch_first=True, bidirectional=bidirectional,
                          dropout=dropout if layers > 1 else 0.0)
        self.out = nn.Linear(hidden * (2 if bidirectional else 1), out_dim)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        mask = (x != PAD) if mask is None else mask
        lengths = mask.sum(1).clamp_min(1).cpu()  # pack_padded_sequence wants lengths on the host
        packed = nn.utils.rnn.pack_padded_sequence(self.embed(x.long()), lengths, batch_first=True, enforce_sorted=False)
        _, h = self.rnn(packed)  # (layers * dirs, B, hidden)
        dirs = 2 if self.rnn.bidirectional else 1
        last = h[-dirs:].transpose(0, 1).reshape(x.shape[0], -1)  # (B, dirs * hidden): the top layer's final states
        return self.out(last)


class GRUDecoder(nn.Module):
    """``layers`` x GRU(``hidden``) whose input at every step is [embedding of the previous token, z].

    As MOSES's VAE decoder: the initial state of every layer is Linear(z); z is also
    concatenated to each step's input; three layers of 512 units.
    """

    def __init__(self, vocab_size: int, in_dim: int, hidden: int = 512, layers: int = 3, embedding: int = 32,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embedding, padding_idx=PAD)
        self.init = nn.Linear(in_dim, hidden)
        self.rnn = nn.GRU(embedding + in_dim, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.out = TokenHead(hidden, vocab_size)

    def _h0(self, z: Tensor) -> Tensor:
        return self.init(z).unsqueeze(0).repeat(self.rnn.num_layers, 1, 1).contiguous()  # (layers, B, hidden)

    def forward(self, z: Tensor, x: Tensor) -> Tensor:
        """Teacher forcing: logits ``(B, L-1, V)`` of ``x[:, 1:]`` given ``x[:, :-1]`` and ``z (B, in_dim)``."""
        e = self.embed(x[:, :-1].long())  # (B, L-1, E)
        inp = torch.cat([e, z[:, None].expand(-1, e.shape[1], -1)], -1)
        y, _ = self.rnn(inp, self._h0(z))
        return self.out(y)

    @torch.no_grad()
    def generate(self, h: Tensor | None, n: int, length: int, temperature: float = 1.0) -> Tensor:
        assert h is not None, "the GRU decoder samples given z"
        z = h

        def step(tok: Tensor, state: Tensor):  # type: ignore[no-untyped-def]
            y, state = self.rnn(torch.cat([self.embed(tok), z], -1)[:, None], state)
            return self.out(y[:, 0]), state

        return sample_tokens(step, self._h0(z), n, length, temperature, z.device)


# -- registry entries: ``factory(in_shape, out_shape, **options)``; tokens of length L over V symbols have shape (L, V)


def _tokens_shape(shape: tuple[int, ...], role: str, net: str) -> tuple[int, int]:
    if len(shape) != 2:
        raise GenzooError(f"network {net} reads token sequences, shape (L, V), as its {role}; got {tuple(shape)} "
                          "(use it with sequence data, e.g. --data moses)")
    return int(shape[0]), int(shape[1])


def _vector_shape(shape: tuple[int, ...], role: str, net: str) -> int:
    if len(shape) != 1:
        raise GenzooError(f"network {net} needs a vector as its {role}, got shape {tuple(shape)}")
    return int(shape[0])


#: Stacked recurrent layers, and the dropout between them.
Layers = Annotated[int, Range(1, 64)]
Dropout = Annotated[float, Range(0, 1, hi_open=True)]


@NETS.register("lstm", help="LSTM language model over tokens, (L, V) -> (L, V) logits (CharRNN)")
def lstm(in_shape: tuple[int, ...], out_shape: tuple[int, ...], hidden: Size = 768, layers: Layers = 3, embedding: Size = 32,
         dropout: Dropout = 0.2) -> LSTMNet:
    """An :class:`LSTMNet` over the ``V`` tokens of ``out_shape = (L, V)``.

    Args:
        hidden, layers: LSTM width and depth (MOSES's CharRNN: 768 x 3).
        embedding: token embedding size.
        dropout: between LSTM layers.
    """
    _, v = _tokens_shape(out_shape, "output", "lstm")
    return LSTMNet(v, hidden, layers, embedding, dropout)


@NETS.register("gru_encoder", help="(bidirectional) GRU over tokens, (L, V) -> a vector (the SMILES VAE's encoder)")
def gru_encoder(in_shape: tuple[int, ...], out_shape: tuple[int, ...], hidden: Size = 256, layers: Layers = 1, embedding: Size = 32,
                bidirectional: bool = True, dropout: Dropout = 0.5) -> GRUEncoder:
    """A :class:`GRUEncoder` from tokens ``in_shape = (L, V)`` to ``out_shape = (d,)``.

    Args:
        hidden, layers, bidirectional: the GRU (MOSES's VAE: one bidirectional layer of 256).
        embedding: token embedding size.
        dropout: between GRU layers.
    """
    _, v = _tokens_shape(in_shape, "input", "gru_encoder")
    return GRUEncoder(v, _vector_shape(out_shape, "output", "gru_encoder"), hidden, layers, embedding, bidirectional, dropout)


@NETS.register("gru_decoder", help="GRU decoder fed a vector at every step, vector -> (L, V) logits (the SMILES VAE's decoder)")
def gru_decoder(in_shape: tuple[int, ...], out_shape: tuple[int, ...], hidden: Size = 512, layers: Layers = 3, embedding: Size = 32,
                dropout: Dropout = 0.0) -> GRUDecoder:
    """A :class:`GRUDecoder` from ``in_shape = (d,)`` to logits over the tokens of ``out_shape = (L, V)``.

    Args:
        hidden, layers: the GRU (MOSES's VAE: 512 x 3).
        embedding: token embedding size.
        dropout: between GRU layers.
    """
    _, v = _tokens_shape(out_shape, "output", "gru_decoder")
    return GRUDecoder(v, _vector_shape(in_shape, "input", "gru_decoder"), hidden, layers, embedding, dropout)
