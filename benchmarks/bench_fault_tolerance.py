"""Fault tolerance: a big option fuzz of ``genzoo train``, and kill -9 at random steps, resumed.

Two figures for benchmarks/RESULTS.md ("fault tolerance"):

``--fuzz N``: N hostile ``genzoo train`` command lines drawn by the property-based strategy of
``tests/fuzzing.py`` (real option paths with plausible values, made-up keys, hostile values:
negative, huge, nan/inf, empty, odd strings, lists, mappings), each run in a forked child with
its own working directory and caches, a wall-clock limit and a CPU-time limit. Counted:
trained (exit 0), refused (exit 2, one sentence), diverged (exit 1, the one "training stopped"
sentence of a non-finite loss), and the failures: tracebacks, hangs, files written outside
``--out``, unclear exits. Every failure's command line is printed.

``--kill N``: for a VAE and a WGAN-GP on 2-D data (CPU, one thread), one uninterrupted run,
then N runs each killed with SIGKILL when its log first reaches a step drawn uniformly from
the run, and resumed with ``genzoo train --resume``. A trial counts as identical when the
resumed run's final weights equal the uninterrupted run's tensor for tensor and its whole
``metrics.jsonl`` equals the uninterrupted one row for row (every field but the wall-clock
``time`` and ``steps_per_s``). The log interval (7) does not divide the checkpoint interval
(25), so resumes start mid-window.

    nice -n 19 .venv/bin/python benchmarks/bench_fault_tolerance.py --kill 20 --fuzz 500 --until 06:15

The kills run first and their section is written at once; the fuzz then runs until ``--until``
(or ``--minutes``) and reports the cases it ran.

Both run in the background of a shared machine at low priority; the limits are generous for
that reason (a hang is a run still going after ``--wall`` seconds or ``--cpu`` CPU seconds).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests")]

TIMING = ("time", "steps_per_s")

# -- the fuzz --------------------------------------------------------------------------------------


def run_forked(argv: list[str], root: Path, wall: float, cpu: int):  # -> fuzzing.Outcome
    """Run ``genzoo`` in a forked child (imports shared, state isolated) with wall and CPU limits."""
    import fuzzing

    root.mkdir(parents=True, exist_ok=True)
    logs = Path(tempfile.mkdtemp(prefix="fuzzlog-"))  # outside root: the harness's files, not genzoo's
    before = fuzzing._files(root)
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child
        rc = 3
        try:
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
            os.chdir(root)
            os.environ["GENZOO_CACHE"] = os.environ["XDG_CACHE_HOME"] = str(root / "cache")
            for fd, name in ((1, "out"), (2, "err")):
                f = os.open(logs / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(f, fd)
            sys.stdout = open(1, "w", closefd=False)
            sys.stderr = open(2, "w", closefd=False)
            from genzoo.cli import main

            rc = main([*argv, "--out", str(root / "run")])
        except BaseException:  # noqa: BLE001 - an escaping exception is the traceback a user would see
            traceback.print_exc()
            rc = 3
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(rc if isinstance(rc, int) else 3)
    status = None
    while time.perf_counter() - t0 < wall:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        shutil.rmtree(logs, ignore_errors=True)
        return fuzzing.Outcome("hang", None, f"still running after {wall:.0f} s", time.perf_counter() - t0)
    err = (logs / "err").read_text(errors="replace")
    shutil.rmtree(logs, ignore_errors=True)
    seconds = time.perf_counter() - t0
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        kind = "hang" if sig == signal.SIGXCPU else "traceback"
        return fuzzing.Outcome(kind, None, f"killed by signal {signal.Signals(sig).name}\n{err[-1500:]}", seconds)
    rc = os.WEXITSTATUS(status)
    new = {f for f in fuzzing._files(root) - before if not (f == "run" or f.startswith("run" + os.sep))}
    return fuzzing.classify(rc, err, new, seconds, out=root / "run")


def fuzz(n: int, seed: int, wall: float, cpu: int, minutes: float | None = None) -> dict:
    """Up to ``n`` cases; with ``minutes``, no case starts after that budget (the figure counts those run)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hseed

    import fuzzing

    fuzzing.warm()
    counts: collections.Counter = collections.Counter()
    failures: list[tuple[str, str, str]] = []
    t0 = time.time()

    @hseed(seed)
    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(argv=fuzzing.cases())
    def one(argv: list[str]) -> None:
        if minutes is not None and time.time() - t0 > 60 * minutes:
            return  # budget spent: hypothesis's remaining draws are skipped, not run
        with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
            o = run_forked(argv, Path(tmp), wall, cpu)
        counts[o.kind] += 1
        total = sum(counts.values())
        if not o.ok:
            failures.append((o.kind, "genzoo " + " ".join(argv), o.message))
            print(f"FAILURE {o.kind}: genzoo {' '.join(argv)}\n{o.message}", flush=True)
        if total % 10 == 0:
            print(f"{total} runs, {dict(counts)}, {time.time() - t0:.0f} s", flush=True)

    one()
    return {"runs": sum(counts.values()), "counts": dict(counts), "failures": failures, "seconds": time.time() - t0,
            "stopped_by_budget": minutes is not None and sum(counts.values()) < n}


# -- kill -9 and resume ----------------------------------------------------------------------------

SETUPS = {
    "vae": ["vae", "--data", "8gaussians", "--steps", "300", "--set", "data.n_train=4000", "--set", "data.n_test=500",
            "--set", "model.encoder.type=mlp", "--set", "model.encoder.hidden=[64]", "--set", "train.batch_size=64"],
    "wgan_gp": ["wgan_gp", "--data", "8gaussians", "--steps", "150", "--set", "data.n_train=4000", "--set", "data.n_test=500",
                "--set", "model.generator.hidden=[64,64]", "--set", "model.critic.hidden=[64,64]", "--set", "train.batch_size=64"],
}
LOG_EVERY = 7
COMMON = ["--set", f"train.log_every={LOG_EVERY}", "--set", "train.checkpoint_every=25", "--set", "train.threads=1",
          "--set", "train.logger=none", "--set", "train.progress=false"]


def genzoo_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "genzoo", *args]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO / "src"), "PYTHONUNBUFFERED": "1"}


def rows(run: Path) -> list[dict]:
    out = []
    for line in (run / "metrics.jsonl").read_text().splitlines():
        try:
            out.append({k: v for k, v in json.loads(line).items() if k not in TIMING})
        except json.JSONDecodeError:
            out.append({"cut": line})
    return out


def weights(run: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(run / "model.safetensors"))


def same(a: Path, b: Path) -> tuple[bool, bool]:
    import torch

    wa, wb = weights(a), weights(b)
    w = wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    return w, rows(a) == rows(b)


def last_step(run: Path) -> int:
    try:
        lines = (run / "metrics.jsonl").read_text().splitlines()
        return json.loads(lines[-1])["step"] if lines else 0
    except (OSError, ValueError, KeyError, IndexError):
        return 0


def kill_trials(name: str, n: int, workdir: Path, rng: random.Random) -> dict:
    setup = SETUPS[name] + COMMON
    total = int(setup[setup.index("--steps") + 1])
    ref = workdir / f"{name}-reference"
    subprocess.run(genzoo_cmd("train", *setup, "--out", str(ref)), env=env(), check=True, capture_output=True)
    results = []
    for i in range(n):
        target = rng.randint(1, total - LOG_EVERY)  # its log row comes before the final one: a kill mid-run
        out = workdir / f"{name}-trial{i:02d}"
        proc = subprocess.Popen(genzoo_cmd("train", *setup, "--out", str(out)), env=env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        while proc.poll() is None and last_step(out) < target:
            time.sleep(0.01)
        exited = proc.poll() is not None  # finished before the kill (should not happen: see target)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed_at = last_step(out)
        ckpt = json.loads((out / "checkpoints/latest.json").read_text())["step"] if (out / "checkpoints/latest.json").is_file() else 0
        finished = (out / "model.safetensors").is_file() and ckpt == total
        r = subprocess.run(genzoo_cmd("train", "--resume", str(out), "--steps", str(total)), env=env(), capture_output=True, text=True)
        w_ok, log_ok = same(out, ref) if r.returncode == 0 else (False, False)
        results.append({"trial": i, "target": target, "last_logged": killed_at, "checkpoint": ckpt, "resume_rc": r.returncode,
                        "weights_identical": w_ok, "log_identical": log_ok, "finished_before_kill": finished or exited,
                        "error": r.stderr.strip().splitlines()[-1] if r.returncode else ""})
        print(f"{name} trial {i}: kill after logged step {killed_at} (target {target}, checkpoint {ckpt}), resume exit {r.returncode}, "
              f"weights {'identical' if w_ok else 'DIFFER'}, log {'identical' if log_ok else 'DIFFERS'}", flush=True)
        shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(ref, ignore_errors=True)
    ok = sum(r["weights_identical"] and r["log_identical"] for r in results)
    mid = sum(not r["finished_before_kill"] for r in results)
    return {"model": name, "steps": total, "trials": results, "identical": ok, "killed_mid_run": mid}


# -- main ------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fuzz", type=int, default=0, help="fuzz runs (0: none)")
    ap.add_argument("--kill", type=int, default=0, help="kill -9 trials per model (0: none)")
    ap.add_argument("--models", default="vae,wgan_gp")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--wall", type=float, default=900.0, help="fuzz: seconds before a run counts as hung")
    ap.add_argument("--cpu", type=int, default=300, help="fuzz: CPU seconds before a run counts as hung")
    ap.add_argument("--minutes", type=float, default=None, help="fuzz: start no case after this many minutes")
    ap.add_argument("--until", default=None, help="fuzz: start no case after this UTC time of today (HH:MM); the kills run first")
    ap.add_argument("--json", default=None, help="also write the raw results here")
    ap.add_argument("--results", default=str(HERE / "RESULTS.md"))
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("GENZOO_THREADS", "1")
    raw: dict = {}

    def emit(title: str, table: str, notes: str) -> None:
        print(table, flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(raw, indent=1, default=str))
        if not args.no_append:
            sys.path.insert(0, str(HERE))
            from _results import append

            append(f"Fault tolerance: {title}", table, notes, args.results)

    if args.kill:
        rng = random.Random(args.seed)
        work = Path(tempfile.mkdtemp(prefix="kill9-", dir=str(REPO / "runs") if (REPO / "runs").is_dir() else None))
        lines = ["| model | steps | kill -9 trials | killed before the run ended | resumed with identical weights and metrics log | "
                 "kill steps (last logged) |", "|---|---|---|---|---|---|"]
        for name in args.models.split(","):
            k = kill_trials(name, args.kill, work, rng)
            raw.setdefault("kill", []).append(k)
            steps = sorted(t["last_logged"] for t in k["trials"])
            lines.append(f"| {name} | {k['steps']} | {args.kill} | {k['killed_mid_run']} | {k['identical']} / {args.kill} | "
                         f"{', '.join(map(str, steps))} |")
        shutil.rmtree(work, ignore_errors=True)
        table = "\n".join(lines)
        notes = ("Each trial: `genzoo train` in a subprocess (CPU, 1 thread, log every 7 rounds, checkpoint every 25), SIGKILL when "
                 f"its metrics log first reaches a step drawn uniformly from 1..steps-{LOG_EVERY}, then `genzoo train --resume RUN --steps "
                 "STEPS`. Identical = every tensor of model.safetensors equal (torch.equal) to the uninterrupted run's, and "
                 "every row of metrics.jsonl equal in every field but the wall-clock `time` and `steps_per_s`. Settings: "
                 + "; ".join(f"`genzoo train {' '.join(SETUPS[m])}`" for m in args.models.split(",")) + ".")
        emit("kill -9 and resume", table, notes)  # written before the fuzz starts: a cut-off fuzz loses only itself
    if args.fuzz:
        minutes = args.minutes
        if args.until:  # a deadline: the budget is what is left of today until then
            import datetime as dt

            now = dt.datetime.now(dt.timezone.utc)
            hh, mm = map(int, args.until.split(":"))
            left = (now.replace(hour=hh, minute=mm, second=0, microsecond=0) - now).total_seconds() / 60
            minutes = max(0.0, left) if minutes is None else min(minutes, max(0.0, left))
        f = fuzz(args.fuzz, args.seed, args.wall, args.cpu, minutes)
        raw["fuzz"] = f
        c = f["counts"]
        bad = sum(v for k, v in c.items() if k not in ("trained", "refused", "diverged"))
        table = ("| runs | trained (exit 0) | refused (exit 2, one sentence, nothing created) | diverged (exit 1, one sentence) | "
                 "tracebacks | hangs | files outside --out | refusals leaving --out behind | unclear |\n|---|---|---|---|---|---|---|---|---|\n"
                 f"| {f['runs']} | {c.get('trained', 0)} | {c.get('refused', 0)} | {c.get('diverged', 0)} | {c.get('traceback', 0)} | "
                 f"{c.get('hang', 0)} | {c.get('stray', 0)} | {c.get('leftover', 0)} | {c.get('unclear', 0)} |")
        notes = (f"Hypothesis strategy `tests/fuzzing.py` (seed {args.seed}): models {', '.join(__import__('fuzzing').MODELS)}, each on "
                 f"the datasets of its kind among {', '.join(__import__('fuzzing').DATASETS)} (smiles: a file of 216 SMILES); 1-3 `--set` overrides per run (three in four a real option path "
                 "with a value plausible for its type, else made-up keys or hostile values) and sometimes a hostile "
                 f"--steps/--epochs/--seed; each run forked, niced, limit {args.wall:.0f} s wall / {args.cpu} CPU-s, "
                 f"{f['seconds'] / 3600:.1f} h in all"
                 + (f" (stopped by the {minutes:.0f}-minute budget after {f['runs']} of {args.fuzz} drawn cases)" if f["stopped_by_budget"] else "")
                 + f". Failures: {bad}."
                 + "".join(f"\n- {k}: `{cmd}`" for k, cmd, _ in f["failures"][:20]))
        emit("option fuzz of genzoo train", table, notes)


if __name__ == "__main__":
    main()
