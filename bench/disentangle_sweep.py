"""beta-VAE vs beta-TCVAE on dSprites: disentanglement metrics and the reconstruction price of beta.

    python -m bench.disentangle_sweep [--betas 1,4,8] [--models vae,tcvae] [--seeds 0] [--limit 100000]
                                      [--epochs 8] [--net conv|mlp] [--dci-model gbt|forest]
                                      [--out runs/disentangle] [--plot PATH] [--json PATH]

For each model (beta-VAE: --regularizer kl; beta-TCVAE: --regularizer tc, minibatch-weighted
sampling) and each beta, one run trains (at beta 1 both are the plain VAE, trained once) on `--data dsprites --limit N` (vaelab's rendered
dSprites: a fixed random subset of the 737,280 factor combinations; a tenth is the test split)
with the conv network of Locatello et al. 2019 (--net conv, the default: four 4x4 stride-2
convolutions of 32, 32, 64, 64 channels, a 256-unit dense layer, 10-D latent, Bernoulli pixels,
batch 64, Adam 5e-4) or the MLP of Chen et al. 2018 (--net mlp: 4096-1200-1200-10 and back,
batch 128, Adam 1e-3), then the test
split is measured with `vaelab.metrics.disentanglement`: MIG (two estimates: "MIG" from binned
posterior means as Locatello et al. compute it, "MIG post." from the posteriors as Chen et al. do),
the FactorVAE score, DCI
(disentanglement, completeness, informativeness; from gradient-boosted trees as Locatello et al.
2019, or with --dci-model forest from the random forest of vaelab's earlier tables), the BetaVAE
score, SAP, modularity, explicitness and IRS (`vaelab.metrics.disentanglement_suite`; the
disentanglement_lib set), and the reconstruction term -E_q log p(x|z)
and KL in nats per image (one posterior sample, fixed seed). The table and a trade-off plot (MIG
against reconstruction) are printed and saved; published reference points are printed beside them.

--tc-estimator mss trains beta-TCVAE with minibatch-stratified sampling instead of the default
minibatch-weighted sampling (see vaelab.objectives.total_correlation); give it its own --out.

With several --seeds every setting trains once per seed (Locatello et al. 2019 found the seed to
matter about as much as the method) and a summary gives the median and the range over seeds.

Run folders are kept (--out/MODEL-beta-B, and MODEL-beta-B-seed-S for seeds other than 0); a
finished run is measured again, not retrained.
Time: each run sees limit x 0.8 x epochs images; at the defaults about 20 minutes per conv run on
one core (the MLP trains about twice as fast).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from vaelab import presets
from vaelab.config import RunConfig, option_table
from vaelab.errors import VaelabError
from vaelab.metrics.disentanglement import disentanglement_report
from vaelab.metrics.likelihood import evaluate
from vaelab.objectives import TC_ESTIMATORS
from vaelab.train.checks import check_data_fits
from vaelab.viz.figures import pyplot, save_png

from .report import command_line, write_json
from .runs import preset_config, train_or_reuse

PRESET = "dsprites-tcvae"  # vaelab/presets: the data, conv network and training every run starts from

MODELS = {"vae": ("beta-VAE", "kl"), "tcvae": ("beta-TCVAE", "tc")}
# Each network as options on top of the preset (whose own is the conv one), with the batch size and
# learning rate it is trained with unless told otherwise. The MLP puts the conv fields back to their
# defaults (it does not use them), so its config is the one it always was.
_DEFAULT = {name: option_table()[name].default for name in ("channels", "dense")}
NETS = {
    "conv": {"model": {}, "batch_size": presets.options(PRESET)["batch_size"], "lr": presets.options(PRESET)["lr"]},
    "mlp": {"model": {"model": "mlp", "hidden": (1200, 1200), **_DEFAULT}, "batch_size": 128, "lr": 1e-3},
}
COLUMNS = ("MIG", "MIG post.", "FactorVAE", "DCI dis.", "DCI comp.", "DCI info.", "BetaVAE", "SAP", "modular.",
           "explicit.", "IRS", "recon", "KL")
SUITE = {"BetaVAE": "beta_vae_score", "SAP": "sap_score", "modular.": "modularity", "explicit.": "explicitness",
         "IRS": "irs"}  # column: key of disentanglement_report
# The published setups, for comparison of budgets. Their score values are not quoted: they could not
# be checked against the papers from where this was written (see the README).
PUBLISHED = (
    "Chen et al. 2018 (beta-TCVAE): MLP 4096-1200-1200 encoder and 1200-1200-1200 decoder, 10-D latent; "
    "their code's defaults train 50 epochs over all 737,280 images at batch 2048 (about 37M images seen). "
    "Their MIG is the 'MIG post.' column's estimator (entropies of mixtures of the encoder's posteriors, by "
    "sampling), computed over the whole data set and averaged over scale, orientation, x and y (shape left out)",
    "Locatello et al. 2019: conv encoder/decoder, 10-D latent, 300,000 steps at batch 64 (19.2M images seen); "
    "the binned MIG (20 bins), FactorVAE score (batches of 64, dimensions with std < 0.05 pruned) and DCI "
    "used here follow their definitions (their DCI uses gradient-boosted trees, as --dci-model gbt does; "
    "--dci-model forest gives vaelab's earlier random-forest DCI), as do the BetaVAE score, SAP, modularity, "
    "explicitness and IRS (see vaelab.metrics.disentanglement_suite for each choice)",
)


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(t) for t in text.split(",") if t.strip())


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(t) for t in text.split(",") if t.strip())


def network(args) -> dict:
    """The options of --net (--hidden overrides the MLP's widths)."""
    return NETS[args.net]["model"] | ({"hidden": args.hidden} if args.hidden is not None else {})


def run_config(regularizer: str, beta: float, seed: int, splits, args) -> RunConfig:
    config, _ = preset_config(PRESET, splits, limit=args.limit, latent_dim=args.latent_dim, regularizer=regularizer,
                              beta=beta, tc_estimator=args.tc_estimator if regularizer == "tc" else "mws",
                              epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=seed, **network(args))
    return config


def one_run(key: str, beta: float, seed: int, splits, args, out: Path, measured: dict[Path, dict]) -> dict:
    label, regularizer = MODELS[key]
    if regularizer == "tc" and beta == 1:
        key, regularizer = "vae", "kl"  # beta-TCVAE at beta 1 is the plain VAE (same loss): one run serves both
    run_dir = out / (f"{key}-beta-{beta:g}" + (f"-seed-{seed}" if seed else ""))
    if run_dir in measured:  # that shared run, already measured for the other model
        return {**measured[run_dir], "model": label}
    config = run_config(regularizer, beta, seed, splits, args)
    start = time.perf_counter()
    # The weights the run folder keeps (best validation epoch), as every later command sees them.
    model = train_or_reuse(config, splits, run_dir, progress=not args.quiet)
    trained = time.perf_counter() - start
    report = disentanglement_report(model, splits, "test", seed=seed, dci_model=args.dci_model)
    terms = evaluate(model, splits, "test", iwae_k=1, seed=seed)  # one posterior sample per image
    recon, kl = terms["recon"], terms["kl"]
    row = {"model": label, "beta": beta, "seed": seed, "MIG": report["mig"], "MIG post.": report["mig_posterior"],
           "FactorVAE": report["factor_vae_score"], "DCI dis.": report["dci_disentanglement"],
           "DCI comp.": report["dci_completeness"], "DCI info.": report["dci_informativeness"],
           **{column: report[key] for column, key in SUITE.items()}, "recon": recon, "KL": kl,
           "dci_model": args.dci_model,
           "sap_per_factor": dict(zip(report["factors"], report["sap_per_factor"])),
           "mig_per_factor": dict(zip(report["factors"], report["mig_per_factor"])),
           "mig_posterior_per_factor": dict(zip(report["factors"], report["mig_posterior_per_factor"])),
           "train_seconds": round(trained, 1), "run": str(run_dir)}
    measured[run_dir] = row
    return row


def over_seeds(rows: list[dict]) -> list[dict]:
    """One row per (model, beta): each column's median over the seeds, and its min and max."""
    groups: dict[tuple[str, float], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["model"], r["beta"]), []).append(r)
    summary = []
    for (model, beta), runs in groups.items():
        row: dict = {"model": model, "beta": beta, "seeds": [r["seed"] for r in runs]}
        for c in COLUMNS:
            values = [r[c] for r in runs]
            row.update({c: float(np.median(values)), f"{c} min": min(values), f"{c} max": max(values)})
        summary.append(row)
    return summary


def plot(rows: list[dict], path: Path, subtitle: str) -> Path:
    fig, (left, right) = pyplot().subplots(1, 2, figsize=(12, 4.8), dpi=110)
    for label, marker in (("beta-VAE", "o"), ("beta-TCVAE", "s")):
        mine = sorted((r for r in rows if r["model"] == label), key=lambda r: r["beta"])
        if not mine:
            continue
        recon, mig = [r["recon"] for r in mine], [r["MIG"] for r in mine]
        left.plot(recon, mig, f"-{marker}", label=label)
        for r in mine:
            left.annotate(f"beta={r['beta']:g}", (r["recon"], r["MIG"]), textcoords="offset points",
                          xytext=(5, 4), fontsize=8)
        right.plot([r["beta"] for r in mine], [r["FactorVAE"] for r in mine], f"-{marker}", label=f"{label} FactorVAE")
        right.plot([r["beta"] for r in mine], [r["DCI dis."] for r in mine], f"--{marker}", label=f"{label} DCI dis.")
    left.set_xlabel("reconstruction -E_q log p(x|z), nats per image (test)")
    left.set_ylabel("MIG")
    left.set_title("disentanglement against reconstruction", fontsize=10)
    right.set_xlabel("beta")
    right.set_ylabel("score")
    right.set_title("FactorVAE score and DCI disentanglement", fontsize=10)
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(frameon=False, fontsize=8)
    fig.suptitle(subtitle, fontsize=9)
    fig.tight_layout()
    return save_png(fig, path)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m bench.disentangle_sweep", description=__doc__.split("\n")[0])
    p.add_argument("--betas", type=_floats, default=(1.0, 4.0, 8.0))
    p.add_argument("--models", type=lambda t: tuple(t.split(",")), default=("vae", "tcvae"))
    preset = presets.options(PRESET)  # the defaults below are the preset's
    p.add_argument("--limit", type=int, default=preset["limit"], help=f"dSprites images drawn (default {preset['limit']})")
    p.add_argument("--epochs", type=int, default=preset["epochs"])
    p.add_argument("--net", choices=tuple(NETS), default="conv",
                   help="conv (Locatello et al. 2019's, default) or mlp (Chen et al. 2018's)")
    p.add_argument("--hidden", type=_ints, default=None, help="--net mlp only: widths (default 1200,1200)")
    p.add_argument("--latent-dim", type=int, default=preset["latent_dim"])
    p.add_argument("--batch-size", type=int, default=None, help="default 64 for conv, 128 for mlp")
    p.add_argument("--lr", type=float, default=None, help="default 5e-4 for conv, 1e-3 for mlp")
    p.add_argument("--seeds", type=_ints, default=(0,), help="one run per seed and setting (default 0)")
    p.add_argument("--tc-estimator", choices=TC_ESTIMATORS, default="mws",
                   help="beta-TCVAE's estimate of q(z) from a batch: mws (default) or mss")
    p.add_argument("--dci-model", choices=("gbt", "forest"), default="gbt",
                   help="DCI's classifier: gbt (gradient-boosted trees, as Locatello et al. 2019; default) or forest "
                        "(the random forest of the tables measured before the gbt option)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="runs/disentangle", help="run folders (kept; finished runs are reused)")
    p.add_argument("--plot", help="trade-off plot (default OUT/tradeoff.png; the README's is "
                                  "docs/images/disentangle_tradeoff.png)")
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.hidden is not None and args.net != "mlp":
        p.error("--hidden sets the MLP's widths: use it with --net mlp")
    for name in ("batch_size", "lr"):  # None: the network's own; 0 goes on to be refused by the config
        if getattr(args, name) is None:
            setattr(args, name, NETS[args.net][name])
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        p.error(f"unknown model {unknown[0]!r}; choose from {', '.join(MODELS)}")
    torch.set_num_threads(args.threads)
    command = command_line("bench.disentangle_sweep", argv)
    print(f"command: {command}")
    try:  # bad settings (a batch size of 0, a limit too small to split, ...) end here, in one line
        _, splits = preset_config(PRESET, limit=args.limit)
        for beta in args.betas:
            check_data_fits(run_config("kl", beta, 0, splits, args), splits)
    except VaelabError as e:
        p.error(str(e))
    print(f"dSprites (rendered): {len(splits.train)} train / {len(splits.val)} val / {len(splits.test)} test images; "
          f"{args.net} {network(args)}, {args.latent_dim}-D latent, {args.epochs} epochs, batch {args.batch_size}, "
          f"lr {args.lr:g}; DCI from {'gradient-boosted trees' if args.dci_model == 'gbt' else 'a random forest'}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, measured, start = [], {}, time.perf_counter()
    print("\n  model        beta  seed  " + "  ".join(f"{c:>9}" for c in COLUMNS))
    for key in args.models:
        for beta in args.betas:
            for seed in args.seeds:
                r = one_run(key, beta, seed, splits, args, out, measured)
                rows.append(r)
                print(f"  {r['model']:<11} {beta:5g}  {seed:4d}  " + "  ".join(f"{r[c]:9.3f}" for c in COLUMNS),
                      flush=True)
    print("\nMIG per factor (binned means | posterior):")
    for r in rows:
        binned, posterior = (
            "  ".join(f"{f} {v:.2f}" for f, v in r[key].items()) for key in ("mig_per_factor", "mig_posterior_per_factor"))
        print(f"  {r['model']:<11} beta {r['beta']:g} seed {r['seed']}: {binned}  |  {posterior}")
    print("\nSAP per factor:")
    for r in rows:
        sap = "  ".join(f"{f} {v:.2f}" for f, v in r["sap_per_factor"].items())
        print(f"  {r['model']:<11} beta {r['beta']:g} seed {r['seed']}: {sap}")
    summary = over_seeds(rows)
    if len(args.seeds) > 1:
        print(f"\nover {len(args.seeds)} seeds: median [min, max]")
        print("  model        beta  " + "  ".join(f"{c:>21}" for c in COLUMNS))
        for r in summary:
            print(f"  {r['model']:<11} {r['beta']:5g}  "
                  + "  ".join(f"{r[c]:7.3f} [{r[c + ' min']:5.3f}, {r[c + ' max']:5.3f}]" for c in COLUMNS))
    best = max(rows, key=lambda r: r["MIG"])
    print(f"\nbest MIG: {best['model']} beta {best['beta']:g} seed {best['seed']}: {best['MIG']:.3f} "
          "(goal for beta-TCVAE: >= 0.3)")
    print("published setups, for comparison of budgets:")
    for line in PUBLISHED:
        print(f"  {line}")
    subtitle = f"{command}  |  {len(splits.train)} training images, {args.epochs} epochs" + (
        f", median of {len(args.seeds)} seeds" if len(args.seeds) > 1 else "")
    print(f"plot: {plot(summary, Path(args.plot or out / 'tradeoff.png'), subtitle)}")
    print(f"{time.perf_counter() - start:.0f} s; command: {command}")
    results = {"command": command, "rows": rows, "over_seeds": summary, "seeds": list(args.seeds), "limit": args.limit, "epochs": args.epochs,
               "net": args.net, "network": network(args), "tc_estimator": args.tc_estimator,
               "dci_model": args.dci_model, "batch_size": args.batch_size, "lr": args.lr, "latent_dim": args.latent_dim,
               "published": list(PUBLISHED)}
    write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
