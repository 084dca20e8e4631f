"""Logger callbacks: where metric rows go besides the run's ``metrics.jsonl``.

One option, ``train.logger``, picks them (:func:`loggers_for`):

- ``auto`` (default): TensorBoard event files in ``RUN/tb`` when the ``tensorboard`` package
  is installed; when it is not, one line on stderr says so (once per process) and training
  goes on with ``metrics.jsonl`` alone.
- ``tensorboard``: the same, but a missing package is an error before anything is created.
- ``mlflow``: an MLflow run (parameters = the run's config, metrics = every row) in the local
  store ``./mlruns`` (browse it with ``mlflow ui --backend-store-uri ./mlruns``), or in
  ``$MLFLOW_TRACKING_URI`` when you set it yourself. Nothing is sent anywhere else: MLflow's
  telemetry is switched off. Needs ``pip install "genzoo[mlflow]"``.
- ``none``: ``metrics.jsonl`` only.

A logger sees the rows of a resumed run from the checkpoint on, so its curves continue where
they stopped.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._console import note
from ..errors import GenzooError
from .callbacks import Callback

if TYPE_CHECKING:
    from .trainer import Trainer

_SAID: set[str] = set()


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def check_logger(choice: str) -> None:
    """Raise before anything is created when the logger chosen explicitly is not installed."""
    if choice == "tensorboard" and not _installed("tensorboard"):
        raise GenzooError('train.logger=tensorboard needs the tensorboard package; pip install "genzoo[tensorboard]" or set train.logger=none')
    if choice == "mlflow" and not _installed("mlflow"):
        raise GenzooError('train.logger=mlflow needs the mlflow package; pip install "genzoo[mlflow]" or set train.logger=none')


def loggers_for(choice: str) -> list[Callback]:
    """The logger callbacks of ``train.logger`` (see the module docstring)."""
    check_logger(choice)
    if choice == "tensorboard" or (choice == "auto" and _installed("tensorboard")):
        return [TensorBoardLogger()]
    if choice == "auto" and "tensorboard" not in _SAID:
        _SAID.add("tensorboard")
        note('TensorBoard logging is off: the tensorboard package is not installed (pip install "genzoo[tensorboard]"); '
             "metrics go to RUN/metrics.jsonl. Set train.logger=none to silence this, or train.logger=mlflow.")
    if choice == "mlflow":
        return [MLflowLogger()]
    return []


class TensorBoardLogger(Callback):
    """Every metric row as TensorBoard scalars in ``RUN/tb`` (step = the row's round)."""

    def __init__(self) -> None:
        self.writer: Any = None

    def on_log(self, trainer: "Trainer", row: dict[str, Any]) -> None:
        if trainer.run is None:
            return
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(trainer.run.path / "tb"))
        for k, v in row.items():
            if k != "step" and isinstance(v, (int, float)):
                self.writer.add_scalar(k, v, row["step"])

    def on_close(self, trainer: "Trainer") -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = str(v)[:500]  # MLflow caps parameter values
    return out


class MLflowLogger(Callback):
    """Every metric row in an MLflow run named after the run folder; the config as parameters.

    The MLflow run id is kept in ``RUN/mlflow.json``, so a resumed genzoo run logs into the
    same MLflow run.
    """

    def __init__(self) -> None:
        self.client: Any = None
        self.run_id: str | None = None

    def _start(self, trainer: "Trainer") -> None:
        import json

        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # nothing leaves the machine
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # the plain-folder store, no database needed
        from mlflow.tracking import MlflowClient

        assert trainer.run is not None
        uri = os.environ.get("MLFLOW_TRACKING_URI") or Path("mlruns").absolute().as_uri()
        self.client = MlflowClient(tracking_uri=uri)
        ids = trainer.run.path / "mlflow.json"
        if ids.is_file():
            self.run_id = json.loads(ids.read_text()).get("run_id")
            return
        exp = self.client.get_experiment_by_name("genzoo")
        exp_id = exp.experiment_id if exp is not None else self.client.create_experiment("genzoo")
        run = self.client.create_run(exp_id, run_name=trainer.run.path.name, tags={"genzoo.run": str(trainer.run.path.absolute())})
        self.run_id = run.info.run_id
        try:
            cfg = trainer.run.config()
            params = _flat({k: cfg[k] for k in ("model", "data", "train") if k in cfg})
            for key, value in params.items():
                self.client.log_param(self.run_id, key, value)
        except GenzooError:
            pass
        from ..config import atomic_write_bytes

        atomic_write_bytes(ids, json.dumps({"run_id": self.run_id, "tracking_uri": uri}).encode())

    def on_log(self, trainer: "Trainer", row: dict[str, Any]) -> None:
        if trainer.run is None:
            return
        if self.client is None:
            self._start(trainer)
        for k, v in row.items():
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool):
                self.client.log_metric(self.run_id, k.replace("/", "."), float(v), step=int(row["step"]))

    def on_close(self, trainer: "Trainer") -> None:
        if self.client is not None and self.run_id is not None:
            self.client.set_terminated(self.run_id, status="FINISHED" if not trainer.interrupted else "KILLED")
