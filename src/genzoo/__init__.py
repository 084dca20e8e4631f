"""genzoo: train, sample, evaluate and compare every classic deep generative model."""

from ._version import __version__
from .errors import GenzooError  # noqa: E402
from .registry import DATASETS, METRICS, MODELS, NETS, SAMPLERS  # noqa: E402
from .data import DATA_KINDS, Data, DataInfo, load_data  # noqa: E402
from . import nets, models, samplers, metrics  # noqa: E402,F401
from .models import CanDenoise, CanEncode, CanSample, GenerativeModel, HasLogProb, HasNLLBound, Player, Stage  # noqa: E402
from .train import TrainConfig, Trainer  # noqa: E402
from .api import build, load, resume, train  # noqa: E402
from .evaluate import evaluate  # noqa: E402  (the function shadows the module name, as genzoo.train does)
from .bench import bench  # noqa: E402
from .loops import sweep  # noqa: E402

__all__ = [
    "__version__", "GenzooError", "MODELS", "NETS", "DATASETS", "METRICS", "SAMPLERS", "DATA_KINDS", "Data", "DataInfo", "load_data",
    "GenerativeModel", "Player", "Stage", "CanSample", "CanEncode", "CanDenoise", "CanClassify", "CanClassifyNoisy", "HasLogProb", "HasNLLBound",
    "TrainConfig", "Trainer", "build", "train", "resume", "load", "evaluate", "bench", "sweep",
]
