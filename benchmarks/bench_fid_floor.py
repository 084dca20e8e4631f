"""The floor of genzoo's sample-quality metrics: MNIST train vs MNIST test on its own classifier.

No generator can be expected to beat real held-out data, so FID / KID / precision / recall of
the first 10,000 MNIST *training* images against the 10,000 *test* images (the metrics'
"real" side, as in ``genzoo eval``) is the reference every MNIST model's figures are read
against. The features are the penultimate layer of genzoo's MNIST :class:`FeatureNet`
(trained here if not cached; its accuracy and training time are reported).

Also reported, for scale: the same training images with Gaussian pixel noise, and the
``stacked_modes`` statistics of real stacked-MNIST test images (which should cover nearly all
1000 modes with a KL near 0).

Usage::

    python benchmarks/bench_fid_floor.py                 # uses/trains the cached MNIST net
    python benchmarks/bench_fid_floor.py --force         # retrain the feature net (timed)
    python benchmarks/bench_fid_floor.py --n 2000 --tag "SMOKE TEST"
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from genzoo.data import load_data  # noqa: E402
from genzoo.metrics.features import embed, feature_id, feature_info, feature_net  # noqa: E402
from genzoo.metrics.quality import classify_channels, fid_from_features, kid, precision_recall, stacked_mode_stats  # noqa: E402

from _results import add_common_args, append  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(ap)
    ap.add_argument("--n", type=int, default=10_000, help="examples per side (train[:n] vs test[:n])")
    ap.add_argument("--epochs", type=float, default=None, help="feature-net epochs when training (default: the library's)")
    ap.add_argument("--force", action="store_true", help="retrain the feature net even if cached")
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-stacked", action="store_true", help="skip the stacked-MNIST mode check")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = None if args.device == "auto" else args.device

    data = load_data("mnist", root=args.data_root)
    t0 = time.perf_counter()
    opts = {"seed": args.seed} | ({"epochs": args.epochs} if args.epochs is not None else {})
    net = feature_net(data, cache_dir=args.cache_dir, force=args.force, progress=True, device=device, **opts)
    took = time.perf_counter() - t0
    info = feature_info("mnist", args.cache_dir) or {}
    trained_now = args.force or took > 5.0
    train_s = took if trained_now else info.get("train_seconds", float("nan"))
    acc = info.get("test_accuracy", float("nan"))
    fid_net = feature_id(net)
    print(f"feature net {fid_net}: test accuracy {acc:.4f}, {info.get('epochs')} epochs, "
          f"training {train_s:.0f} s ({'now' if trained_now else 'cached'}, {args.threads} threads)", flush=True)

    n = min(args.n, len(data.x_test))
    real_x, fake_x = data.x_test[:n], data.x_train[:n]
    g = torch.Generator().manual_seed(args.seed)
    noisy_x = (fake_x + 0.1 * torch.randn(fake_x.shape, generator=g)).clamp(0, 1)
    t = time.perf_counter()
    real, fake, noisy = (embed(net, x, batch_size=1000) for x in (real_x, fake_x, noisy_x))
    embed_s = time.perf_counter() - t

    rows = []
    for label, f in ((f"train[:{n}] (the floor)", fake), (f"train[:{n}] + N(0, 0.1²) pixel noise", noisy)):
        t = time.perf_counter()
        fid = float(fid_from_features(real, f))
        kid_m, kid_s = kid(real, f, subsets=100, subset_size=min(1000, n), generator=torch.Generator().manual_seed(args.seed))
        p, r = precision_recall(real, f, k=3)
        rows.append((label, fid, kid_m, kid_s, p, r, time.perf_counter() - t))
        print(f"{label}: FID {fid:.4f}  KID {kid_m:.2e} ± {kid_s:.1e}  precision {p:.4f}  recall {r:.4f}", flush=True)

    table = [
        "| fake side (real side: MNIST test[:n]) | FID | KID (mean ± sd over subsets) | precision (k=3) | recall (k=3) | metric time (s) |",
        "|---|---|---|---|---|---|",
    ]
    table += [f"| {lab} | {fid:.3f} | {km:.2e} ± {ks:.1e} | {p:.4f} | {r:.4f} | {s:.1f} |" for lab, fid, km, ks, p, r, s in rows]

    stacked_note = ""
    if not args.no_stacked:
        st = load_data("stacked-mnist", root=args.data_root, n_train=1, n_test=26_000)
        snet = feature_net(st, cache_dir=args.cache_dir, train=False)
        stats = stacked_mode_stats(classify_channels(snet, st.x_test, 1000))
        stacked_note = (f"\nStacked MNIST, 26,000 *real* test images classified channel-wise by the same net: "
                        f"{stats['modes']:.0f} / 1000 modes, KL(q || uniform) = {stats['kl']:.4f} nats "
                        "(the best a generator can be expected to score under the VEEGAN/PacGAN protocol).\n")
        print(stacked_note.strip(), flush=True)

    notes = (
        f"Feature net `{fid_net}`: genzoo's MNIST FeatureNet (128-d penultimate features), test accuracy "
        f"{acc:.4f} after {info.get('epochs')} epochs; training took {train_s:.0f} s "
        f"({'timed in this run' if trained_now else 'as recorded in the cache'}; {args.threads} torch threads, shared CPU). "
        f"n = {n} per side; KID: 100 subsets of {min(1000, n)}; embedding {3 * n} images took {embed_s:.1f} s. "
        "These figures are on genzoo's own classifier features and are NOT comparable with Inception FIDs from papers; "
        "they are the floor for MNIST models evaluated with this feature net (same id).\n" + stacked_note
    )
    append(f"Sample-quality floor: MNIST train vs test{(' — ' + args.tag) if args.tag else ''}", "\n".join(table), notes, args.results)


if __name__ == "__main__":
    main()
