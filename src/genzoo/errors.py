"""User-facing errors.

Every problem a user can cause (bad option, missing file, corrupt checkpoint, wrong shape)
raises :class:`GenzooError` with one sentence naming the problem and the fix. The CLI prints
that sentence and exits with code 2; library users catch it like any ``ValueError``.
"""

from __future__ import annotations


class GenzooError(ValueError):
    """A problem with the user's input, described in one sentence with its fix."""


class NonFiniteLoss(RuntimeError):
    """Training produced a NaN or infinite loss."""
