"""Model families; importing this package registers every model."""

from .base import CanEncode, CanSample, GenerativeModel, HasLogProb, HasNLLBound, Player, Stage
from . import autoencoders  # noqa: F401  (registers ae, vae)
from .autoencoders import AE, VAE

__all__ = ["GenerativeModel", "Player", "Stage", "CanSample", "CanEncode", "HasLogProb", "HasNLLBound", "AE", "VAE"]
