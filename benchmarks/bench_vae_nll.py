"""Binarized-MNIST test NLL of the VAE family, and the β-VAE rate/distortion trade-off.

Protocol (DESIGN §8): dynamic binarization for training, the test set binarized once with a
fixed seed (``load_data("binarized-mnist")``), test NLL in nats from the importance-sampled
bound with ``--k`` samples (5000 by default), the same optimizer budget for every row (Adam,
``--epochs``, ``--batch``, ``--lr``). Rows (targets from the issue):

1. VAE, MLP 784-400-40 / 40-400-784, Bernoulli          target <= 89.9
2. IWAE k=50, same networks                             >= 1.0 nat below row 1
3. VAE + VampPrior with 500 pseudo-inputs               >= 1.5 nat below row 1
4. best model: IWAE (``--best-k``, 1: the ELBO) + VampPrior, network ``--best-hidden``   <= 85.0

Each row also reports the test ELBO, its KL and the ELBO-surgery split of that KL into
I_q[x, z] and KL(q(z) || p(z)) (Hoffman & Johnson 2016) on 2000 test images. The β sweep
trains ``beta_vae`` for β in {0.5, 1, 2, 4, 8} with the same budget and plots test KL (rate)
against reconstruction NLL (distortion). Rows are appended to ``--results`` with the command,
date, machine and wall time.

Usage::

    python benchmarks/bench_vae_nll.py                       # full budget (hours on a CPU)
    python benchmarks/bench_vae_nll.py --epochs 0.02 --k 50 --n-test 200 --results /tmp/R.md  # smoke test
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import shlex
import sys
import time
from pathlib import Path

import torch

import genzoo
from genzoo.train import TrainConfig, Trainer

NET = dict(latent_dim=40, encoder={"type": "mlp", "hidden": (400,)}, likelihood="bernoulli")
ROWS = [
    ("1 VAE 784-400-40 Bernoulli", "vae", {}),
    ("2 IWAE k=50", "iwae", {"k": 50}),
    ("3 VAE + VampPrior (500)", "vae", {"prior": {"type": "vamp", "n_pseudo": 500}}),
    ("4 IWAE k=50 + VampPrior (500)", "iwae", {"k": 50, "prior": {"type": "vamp", "n_pseudo": 500}}),
]
BETAS = (0.5, 1.0, 2.0, 4.0, 8.0)


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def fit(name: str, opts: dict, data, args) -> tuple[torch.nn.Module, float]:
    torch.manual_seed(args.seed)
    steps_per_epoch = len(data.x_train) // args.batch
    warm = {"kl_warmup": int(args.kl_warmup * steps_per_epoch)} if args.kl_warmup > 0 else {}
    model = genzoo.build(name, data.info, **{**NET, **opts, **warm})
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch, lr=args.lr, progress=False, device=args.device,
                      seed=args.seed, log_every=10**9, precision=args.precision, schedule=args.schedule)
    t0 = time.perf_counter()
    Trainer(model, data, cfg, run=None, callbacks=[]).fit()
    return model.eval(), time.perf_counter() - t0


@torch.no_grad()
def evaluate(model, x: torch.Tensor, k: int, batch: int, max_rows: int) -> dict[str, float]:
    nll, rec, kl = [], [], []
    for i in range(0, len(x), batch):
        xb = x[i : i + batch]
        nll.append(model.nll_bound(xb, k=k, max_rows=max_rows))
        lp, kb = model.elbo_terms(xb)
        rec.append(-lp)
        kl.append(kb)
    out = {"nll": float(torch.cat(nll).mean()), "rec": float(torch.cat(rec).mean()), "kl": float(torch.cat(kl).mean())}
    out["neg_elbo"] = out["rec"] + out["kl"]
    out.update(model.elbo_surgery(x[:2000]))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=float, default=100.0)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--schedule", default="constant", choices=["constant", "cosine", "linear"],
                    help="learning-rate schedule over the budget (cosine/linear decay to 0)")
    ap.add_argument("--kl-warmup", type=float, default=0.0,
                    help="epochs over which the KL weight rises linearly from 0 to 1 (0: none)")
    ap.add_argument("--k", type=int, default=5000, help="importance samples of the test NLL")
    ap.add_argument("--n-test", type=int, default=10000, help="test images evaluated (10000: all)")
    ap.add_argument("--eval-batch", type=int, default=100)
    ap.add_argument("--max-rows", type=int, default=0,
                    help="decoder rows per chunk of the NLL (0: 2000 on CPU, where small chunks stay in cache; 50000 on GPU)")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="training precision (evaluation is fp32)")
    ap.add_argument("--save-dir", default=None, help="save each trained row's model here (genzoo.save), for re-evaluation")
    ap.add_argument("--rows", default="1,2,3,4", help="comma-separated row numbers to run")
    ap.add_argument("--best-hidden", default="400", help="row 4's hidden layer widths (row 4 is free to pick its network)")
    ap.add_argument("--best-k", type=int, default=50, help="row 4's importance samples in training")
    ap.add_argument("--no-beta", action="store_true", help="skip the β sweep")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--results", default=str(Path(__file__).with_name("RESULTS.md")))
    ap.add_argument("--plot", default=str(Path(__file__).parent / "plots" / "beta_vae_tradeoff.png"))
    ap.add_argument("--tag", default="", help="label for the results section, e.g. SMOKE TEST")
    args = ap.parse_args(argv)

    data = genzoo.load_data("binarized-mnist", root=args.data_root)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else ("cpu" if args.device == "auto" else args.device))
    x_test = data.x_test[: args.n_test].to(device)
    max_rows = args.max_rows or (2000 if device.type == "cpu" else 50_000)
    wanted = {int(r) for r in args.rows.split(",") if r}
    best = {"k": args.best_k, "prior": {"type": "vamp", "n_pseudo": 500},
            "encoder": {"type": "mlp", "hidden": tuple(int(h) for h in args.best_hidden.split(","))}}
    best_name = f"IWAE k={args.best_k}" if args.best_k > 1 else "VAE"
    rows = [*ROWS[:3], (f"4 {best_name} + VampPrior (500), MLP {args.best_hidden.replace(',', '-')}", "iwae", best)]
    lines = []
    results = {}
    for label, name, opts in rows:
        if int(label.split()[0]) not in wanted:
            continue
        model, secs = fit(name, opts, data, args)
        if args.save_dir:
            from safetensors.torch import save_model

            Path(args.save_dir).mkdir(parents=True, exist_ok=True)
            save_model(model, str(Path(args.save_dir) / f"row{label.split()[0]}.safetensors"))
        t0 = time.perf_counter()
        r = evaluate(model, x_test, args.k, args.eval_batch, max_rows)
        r["eval_s"] = time.perf_counter() - t0
        results[label] = r
        line = (f"| {label} | {r['nll']:.2f} | {r['neg_elbo']:.2f} | {r['kl']:.2f} | {r['mutual_info']:.2f} | "
                f"{r['marginal_kl']:.2f} | {secs:.0f} | {r['eval_s']:.0f} |")
        print(line, flush=True)
        lines.append(line)
    beta_lines = []
    if not args.no_beta:
        pts = []
        for beta in BETAS:
            model, secs = fit("beta_vae", {"beta": beta}, data, args)
            r = evaluate(model, x_test, 1, args.eval_batch, max_rows)  # k=1: the ELBO terms are what β trades
            pts.append((beta, r["rec"], r["kl"]))
            beta_lines.append(f"| β={beta} | {r['rec']:.2f} | {r['kl']:.2f} | {r['neg_elbo']:.2f} | {secs:.0f} |")
            print(beta_lines[-1], flush=True)
        from genzoo.viz.plots import _plt, save_figure

        plt = _plt()
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.plot([p[2] for p in pts], [p[1] for p in pts], "o-")
        for b, rec, kl in pts:
            ax.annotate(f"β={b}", (kl, rec))
        ax.set_xlabel("rate: KL(q(z|x) || p(z)) [nats]")
        ax.set_ylabel("distortion: −E log p(x|z) [nats]")
        ax.set_title("β-VAE on binarized MNIST (test)")
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        save_figure(fig, args.plot)
    cmd = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv if argv is not None else sys.argv[1:])])
    head = [
        "", f"## bench_vae_nll {args.tag}".rstrip(), "",
        f"- command: `{cmd}`", f"- date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC}",
        f"- machine: {machine(device)}; torch {torch.__version__}",
        f"- budget (every row): Adam lr {args.lr} ({args.schedule} schedule), batch {args.batch}, {args.epochs} epochs, "
        f"KL warm-up {args.kl_warmup} epochs, {args.precision} training; "
        f"test NLL: k={args.k} importance samples on {len(x_test)} test images (fixed binarization)",
        "", "| row | test NLL (nats) | −ELBO | KL | I_q[x,z] | KL(q(z)‖p(z)) | train s | eval s |", "|---|---|---|---|---|---|---|---|",
        *lines,
    ]
    if beta_lines:
        head += ["", f"β sweep (plot: `{args.plot}`):", "", "| β | rec NLL | KL | −ELBO | train s |", "|---|---|---|---|---|", *beta_lines]
    with open(args.results, "a") as f:
        f.write("\n".join(head) + "\n")
    print(f"appended to {args.results}")


if __name__ == "__main__":
    main()
