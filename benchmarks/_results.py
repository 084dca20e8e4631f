"""Append a benchmark's figures to benchmarks/RESULTS.md with the command, date and machine."""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def run_json(cmd: list[str], cwd: str | Path | None = None) -> dict:
    """Run one contender's process and return the JSON object on its last stdout line (stop on failure)."""
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    if out.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import torch

        dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
        tv = f"{torch.__version__}, {torch.get_num_threads()} torch threads"
    except Exception:  # noqa: BLE001
        dev, tv = "?", "?"
    return f"{cpu}, {os.cpu_count()} cores, {dev}, torch {tv}"


def add_common_args(ap: "argparse.ArgumentParser") -> None:
    """The options every quality benchmark shares: data, device, seed and where results go."""
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--results", default=str(RESULTS), help="markdown file the section is appended to")
    ap.add_argument("--tag", default="", help="appended to the section title (e.g. 'SMOKE TEST')")


def append(title: str, table_md: str, notes: str = "", path: str | Path = RESULTS) -> None:
    """Append one section to ``path``: title, command, date, machine, a markdown table and notes."""
    path = Path(path)
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=RESULTS.parent).stdout.strip()
    except OSError:
        commit = "?"
    cmd = " ".join([Path(sys.executable).name, *sys.argv])
    block = (
        f"\n## {title}\n\n"
        f"- command: `{cmd}`\n- date: {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}\n"
        f"- machine: {machine()}\n- commit: {commit}\n\n{table_md.strip()}\n"
        + (f"\n{notes.strip()}\n" if notes else "")
    )
    if not path.exists():
        path.write_text("# Benchmark results\n\nEvery figure here was printed by a script in this folder; newest last.\n")
    with open(path, "a") as f:
        f.write(block)
    print(f"appended to {path}")
