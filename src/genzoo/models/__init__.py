"""Model families, one module per family; importing this package registers every model.

A new family is one new file in this folder whose factories carry ``@MODELS.register``;
it is imported here automatically.
"""

import importlib
import pkgutil

from .base import (CanClassify, CanClassifyNoisy, CanDenoise, CanEncode, CanGibbs, CanSample, CanTranslate, Denoised, GenerativeModel,
                   HasCodeSampler, HasLogProb, HasNLLBound, Player, Stage)

for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _mod != "base" and not _mod.startswith("_"):
        importlib.import_module(f"{__name__}.{_mod}")

from .autoencoders import AE, VAE  # noqa: E402

from .diffusion import DDPM  # noqa: E402

__all__ = ["CanClassify", "GenerativeModel", "Player", "Stage", "CanSample", "CanEncode", "CanTranslate", "CanDenoise", "CanClassifyNoisy",
           "CanGibbs", "HasCodeSampler", "Denoised", "HasLogProb", "HasNLLBound", "AE", "VAE", "DDPM"]
