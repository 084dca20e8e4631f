"""Samplers: objects that draw from a trained model, registered by name in :data:`genzoo.SAMPLERS`.

``model.sample(n, c=None, sampler=None)`` on models with several ways to sample, or
``sampler(model, n, c)`` on any model the sampler applies to (``sampler.check(model)``
says why not). The CLI builds them from ``--sampler NAME --set sampler.OPTION=VALUE``:

- ``ancestral``: the DDPM reverse chain over all T steps (Ho et al. 2020);
- ``ddim``: DDIM over ``steps`` timesteps with stochasticity ``eta`` (Song et al. 2021);
- ``cfg``: classifier-free guidance of a conditional diffusion model (Ho & Salimans 2022);
- ``classifier``: guidance by a noise-aware classifier run (Dhariwal & Nichol 2021);
- ``gibbs``: block Gibbs chains of an energy model (RBM);
- ``codes``: an autoencoder's post-hoc code distribution, decoded.

A new module in this folder is imported here automatically.
"""

import importlib
import pkgutil

from ..registry import SAMPLERS
from .base import Sampler, make_sampler, sampler_options

for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _mod != "base" and not _mod.startswith("_"):
        importlib.import_module(f"{__name__}.{_mod}")

__all__ = ["SAMPLERS", "Sampler", "make_sampler", "sampler_options"]
