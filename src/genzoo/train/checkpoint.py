"""Run folders and checkpoints: safetensors for tensors, YAML/JSON for the rest, atomic writes.

Layout of a run folder::

    config.yaml          resolved configuration (model, data, train, data_info)
    model.safetensors    latest weights (and buffers); ema.safetensors with train.ema
    checkpoints/         step_0000100/{state.safetensors,state.json}, latest.json
    metrics.jsonl        one JSON line per log interval
    samples/  plots/     pictures written during and after training
    .lock                held (``flock``) by the one process training in the folder

Nothing is ever unpickled: optimizer state is flattened into named tensors plus JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save as st_save
from torch import Tensor

from ..config import atomic_write_bytes, load_yaml, save_yaml
from ..errors import GenzooError


def save_tensors(path: Path, tensors: dict[str, Tensor], metadata: dict[str, str] | None = None) -> None:
    """Atomically write ``tensors`` (made contiguous, CPU) as safetensors."""
    flat = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    atomic_write_bytes(path, st_save(flat, metadata=metadata))


def load_tensors(path: Path) -> dict[str, Tensor]:
    """Read a safetensors file; a missing, truncated or corrupt file is one clear error."""
    if not path.is_file():
        raise GenzooError(f"{path} does not exist; the run may be incomplete — pass a finished run folder")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise GenzooError(
            f"{path} is truncated or corrupt ({str(e).splitlines()[0][:80]}); "
            "delete it and resume from an earlier checkpoint"
        ) from None


def model_state(module: torch.nn.Module) -> dict[str, Tensor]:
    """state_dict with tied/shared tensors cloned so safetensors accepts them."""
    out: dict[str, Tensor] = {}
    seen: set[int] = set()
    for k, v in module.state_dict().items():
        ptr = v.untyped_storage().data_ptr() if v.numel() else -1
        out[k] = v.clone() if ptr in seen else v
        seen.add(ptr)
    return out


def load_model_state(module: torch.nn.Module, tensors: dict[str, Tensor], source: Path) -> None:
    expected = module.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        what = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise GenzooError(f"{source} does not match the model ({what}); it was saved by a different configuration")
    for k, v in tensors.items():
        if v.shape != expected[k].shape:
            raise GenzooError(f"{source}: tensor {k} has shape {tuple(v.shape)}, the model expects {tuple(expected[k].shape)}")
    module.load_state_dict(tensors)


def flatten_optimizer(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Optimizer state -> (named tensors, JSON-able rest)."""
    sd = opt.state_dict()
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, Any] = {}
    for idx, st in sd["state"].items():
        for key, val in st.items():
            name = f"{prefix}.{idx}.{key}"
            if isinstance(val, Tensor):
                tensors[name] = val
            else:
                scalars[name] = val
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def unflatten_optimizer(prefix: str, tensors: dict[str, Tensor], rest: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, val in tensors.items():
        if name.startswith(prefix + "."):
            idx, key = name[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(idx), {})[key] = val
    for name, val in rest["scalars"].items():
        idx, key = name[len(prefix) + 1 :].split(".", 1)
        state.setdefault(int(idx), {})[key] = val
    groups = []
    for g in rest["param_groups"]:
        g = dict(g)
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    return {"state": state, "param_groups": groups}


class RunLock:
    """An exclusive lock on a run folder, so two processes never train into one folder.

    ``flock`` on ``RUN/.lock``: the operating system releases it when the process ends, however
    it ends (a crash or ``kill -9`` included), so a stale lock never blocks a resume. The
    holder's pid is written into the file for the refusal message. Where ``fcntl`` does not
    exist (Windows) the lock is a no-op.
    """

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / ".lock"
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise GenzooError(f"cannot write into run folder {self.path.parent} ({e.strerror}); choose a writable --out") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                pid = os.read(fd, 32).decode(errors="replace").strip() or "?"
            finally:
                os.close(fd)
            raise GenzooError(
                f"run folder {self.path.parent} is in use by another genzoo process (pid {pid}); "
                "wait for it to finish, or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> "RunLock":
        return self if self.held else self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class RunDir:
    """Paths and atomic I/O of one run folder."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    config_path = property(lambda self: self.path / "config.yaml")
    weights_path = property(lambda self: self.path / "model.safetensors")
    ema_path = property(lambda self: self.path / "ema.safetensors")
    metrics_path = property(lambda self: self.path / "metrics.jsonl")
    ckpt_root = property(lambda self: self.path / "checkpoints")
    samples = property(lambda self: self.path / "samples")
    plots = property(lambda self: self.path / "plots")

    @classmethod
    def existing(cls, path: str | Path) -> "RunDir":
        run = cls(path)
        if not run.path.is_dir():
            raise GenzooError(f"run folder {run.path} does not exist; list runs with `genzoo runs`")
        if not run.config_path.is_file() and (run.path / "sweep.yaml").is_file():
            raise GenzooError(f"{run.path} is a sweep of several runs; pass one of them, e.g. {run.path / 'seed_0'} "
                              f"(`genzoo eval {run.path}` evaluates them all)")
        if not run.config_path.is_file():
            raise GenzooError(f"{run.path} is not a genzoo run (no config.yaml); pass a folder written by `genzoo train`")
        return run

    def config(self) -> dict[str, Any]:
        cfg = load_yaml(self.config_path)
        if not isinstance(cfg, dict) or "model" not in cfg:
            raise GenzooError(f"{self.config_path} is not a genzoo run config; it has no model section")
        return cfg

    def save_config(self, cfg: dict[str, Any]) -> None:
        save_yaml(self.config_path, cfg)

    def append_metrics(self, row: dict[str, Any]) -> None:
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(row) + "\n")

    def lock(self) -> RunLock:
        """Take the folder's exclusive lock (:class:`RunLock`); refused while another process holds it."""
        return RunLock(self.path).acquire()

    def truncate_metrics(self, step: int) -> None:
        """Keep only the rows up to ``step`` (those a checkpoint at ``step`` has seen).

        On resume from a checkpoint at ``step``, rows logged later by the interrupted process
        (and a line cut by a kill) are dropped; the resumed run writes them again, so the log
        reads exactly like an uninterrupted run's.
        """
        if not self.metrics_path.is_file():
            return
        rows = [r for r in self.metrics() if isinstance(r.get("step"), int) and r["step"] <= step]
        atomic_write_bytes(self.metrics_path, "".join(json.dumps(r) + "\n" for r in rows).encode())

    def metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_path.is_file():
            return []
        rows = []
        for line in self.metrics_path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by a kill; skip it
                continue
        return rows

    # -- checkpoints --------------------------------------------------------------------------
    def save_checkpoint(self, step: int, tensors: dict[str, Tensor], meta: dict[str, Any], keep: int = 2) -> Path:
        """Write ``checkpoints/step_N`` via a temporary folder renamed into place, then prune."""
        self.ckpt_root.mkdir(parents=True, exist_ok=True)
        final = self.ckpt_root / f"step_{step:07d}"
        tmp = Path(tempfile.mkdtemp(dir=self.ckpt_root, prefix=".tmp-"))
        try:
            save_tensors(tmp / "state.safetensors", tensors)
            atomic_write_bytes(tmp / "state.json", json.dumps(meta).encode())
            if final.exists():
                shutil.rmtree(final)
            tmp.rename(final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        atomic_write_bytes(self.ckpt_root / "latest.json", json.dumps({"step": step, "dir": final.name}).encode())
        for old in sorted(self.ckpt_root.glob("step_*"))[:-keep] if keep > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def latest_checkpoint(self) -> Path | None:
        pointer = self.ckpt_root / "latest.json"
        if pointer.is_file():
            try:
                d = self.ckpt_root / json.loads(pointer.read_text())["dir"]
                if d.is_dir():
                    return d
            except (json.JSONDecodeError, KeyError, TypeError):
                pass
        dirs = sorted(self.ckpt_root.glob("step_*")) if self.ckpt_root.is_dir() else []
        return dirs[-1] if dirs else None

    @staticmethod
    def load_checkpoint(ckpt: Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
        tensors = load_tensors(ckpt / "state.safetensors")
        meta_path = ckpt / "state.json"
        try:
            meta = json.loads(meta_path.read_text())
        except FileNotFoundError:
            raise GenzooError(f"{meta_path} is missing; the checkpoint is incomplete — delete {ckpt}") from None
        except json.JSONDecodeError:
            raise GenzooError(f"{meta_path} is truncated or corrupt; delete {ckpt} and resume from an earlier one") from None
        return tensors, meta
