"""Token vocabularies for the ``sequence`` data kind: strings <-> padded integer rows.

A row is ``<bos> t_1 .. t_n <eos>`` followed by ``<pad>`` up to a common length. Index 0 is
``<pad>`` (:data:`~genzoo.data.kinds.PAD`), 1 ``<bos>``, 2 ``<eos>``; the data's own tokens
follow in sorted order. The vocabulary is a plain list of strings, stored in
``DataInfo.extras["vocab"]``, so it travels in every run's config and a loaded model decodes
its samples with exactly the tokens it was trained on.

Example:
    >>> v = Vocabulary.build([["C", "O"], ["C", "C"]])
    >>> v.tokens
    ['<pad>', '<bos>', '<eos>', 'C', 'O']
    >>> rows = v.encode([["C", "O"]], length=5)
    >>> rows.tolist(), v.decode(rows)
    ([[1, 3, 4, 2, 0]], ['CO'])
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import torch
from torch import Tensor

from ..errors import GenzooError
from .kinds import PAD

SPECIALS = ("<pad>", "<bos>", "<eos>")
BOS, EOS = 1, 2


class Vocabulary:
    """An ordered token list with the three special tokens first.

    Args:
        tokens: the whole list, ``SPECIALS`` first (as stored in ``info.extras["vocab"]``).
    """

    def __init__(self, tokens: Sequence[str]) -> None:
        tokens = list(tokens)
        if tuple(tokens[:3]) != SPECIALS or len(set(tokens)) != len(tokens):
            raise GenzooError(f"a vocabulary must start with {', '.join(SPECIALS)} and hold each token once")
        if len(tokens) > 255:
            raise GenzooError(f"a vocabulary of {len(tokens)} tokens is more than the 255 genzoo stores per position")
        self.tokens = tokens
        self.index = {t: i for i, t in enumerate(tokens)}

    @classmethod
    def build(cls, sequences: Iterable[Sequence[str]]) -> "Vocabulary":
        """The sorted set of tokens in ``sequences``, after the specials."""
        seen: set[str] = set()
        for s in sequences:
            seen.update(s)
        return cls([*SPECIALS, *sorted(seen)])

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, sequences: Sequence[Sequence[str]], length: int, source: str = "data", lines: Sequence[int] | None = None) -> Tensor:
        """Token lists -> ``(N, length)`` uint8 rows; an unknown token or a too-long row is an error.

        Args:
            sequences: token lists (without ``<bos>``/``<eos>``).
            length: row length, at least the longest sequence + 2.
            source: how to name the data in errors; lines: line number of each sequence, for errors.
        """
        out = np.zeros((len(sequences), length), dtype=np.uint8)
        index = self.index
        for i, seq in enumerate(sequences):
            if len(seq) + 2 > length:
                where = f"line {lines[i]}" if lines is not None else f"sequence {i}"
                raise GenzooError(f"{source}: {where} has {len(seq)} tokens, more than the {length - 2} that fit; raise max_len")
            try:
                out[i, 1 : len(seq) + 1] = [index[t] for t in seq]
            except KeyError:
                bad = next(t for t in seq if t not in index)
                where = f"line {lines[i]}" if lines is not None else f"sequence {i}"
                raise GenzooError(
                    f"{source}: {where} holds the token {bad!r}, which is not in the vocabulary "
                    f"({' '.join(self.tokens[3:])}); remove that line or retrain with data that includes it"
                ) from None
            out[i, 0], out[i, len(seq) + 1] = BOS, EOS
        return torch.from_numpy(out)

    def decode_tokens(self, rows: Tensor) -> list[list[str]]:
        """``(N, L)`` ids -> token lists: from after ``<bos>`` up to ``<eos>`` (or the row's end), pads skipped."""
        a = rows.cpu().numpy()
        if a.size and (a.min() < 0 or a.max() >= len(self.tokens)):
            raise GenzooError(f"token id {int(a.max())} is outside the vocabulary of {len(self.tokens)} tokens; "
                              "the model and its saved vocabulary do not match")
        table = np.array(self.tokens, dtype=object)
        out = []
        for row in a.tolist():
            end = row.index(EOS) if EOS in row else len(row)
            out.append([table[i] for i in row[:end] if i > EOS])  # specials (pad, bos) dropped
        return out

    def decode(self, rows: Tensor) -> list[str]:
        """``(N, L)`` ids -> strings (tokens joined without separator)."""
        return ["".join(t) for t in self.decode_tokens(rows)]
