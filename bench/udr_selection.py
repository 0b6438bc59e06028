"""Does UDR, which needs no labels, pick the runs that MIG, which needs them, calls disentangled?

    python -m bench.udr_selection RUN RUN [RUN ...] [--threads 1] [--json PATH]

The run folders (trained on dSprites, e.g. by bench.disentangle_sweep with several --seeds) are
grouped by setting: their configuration apart from the seed (labelled by the fields that differ).
Each run's UDR (vaelab.metrics.udr, Duan et al. 2020) is its median agreement with the other seeds
of its setting, as Duan et al. compute it; its MIG (binned, and from the posteriors: the same
estimators, test examples and seed as bench.disentangle_sweep) is measured on the same examples.
Printed: per run, UDR and MIG; per setting, the MIG of the run UDR picks against the setting's
median and best; over all runs that have a UDR, Spearman's rank correlation between UDR and MIG,
and the MIG of the run with the highest UDR (Duan et al.'s selection across settings). A setting
with one run has no UDR; in one with two runs both share their one pair, so UDR ties and picks none.
Time: under half a minute per conv run on one core (the posterior MIG is most of it).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

import vaelab
from vaelab.data import load_splits
from vaelab.metrics.disentanglement import mutual_information_gap, posterior_mutual_information_gap
from vaelab.metrics.udr import udr_from_posteriors

from .report import command_line, write_json
from .runs import flat


def settings(models: list) -> list[tuple[tuple, str]]:
    """Per run: (grouping key: every config field but the seed, label: the fields that differ among the runs)."""
    fields = []
    for model in models:
        f = flat(model.config.to_dict())
        f.pop("train.seed")
        fields.append(f)
    varying = [k for k in fields[0] if any(f.get(k) != fields[0][k] for f in fields[1:])]
    return [(tuple(sorted((k, repr(v)) for k, v in f.items())),
             " ".join(f"{k.split('.')[-1]}={_text(f[k])}" for k in varying) or "one setting") for f in fields]


def _text(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def measure(runs: list[str]) -> list[dict]:
    models = [vaelab.load(r) for r in runs]
    data = models[0].config.data
    if any(m.config.data != data for m in models):
        raise SystemExit("the runs were trained on different data; compare runs on the same data")
    splits = load_splits(data)
    if splits.factors is None:
        raise SystemExit(f"the runs' data ({data.name}) has no known factors: MIG needs data such as dsprites")
    x, factors = splits.test, splits.factors["test"].numpy()
    rows, groups = [], {}
    for run, model, (key, label) in zip(runs, models, settings(models)):
        mu, logvar = (t.numpy() for t in model.encode_all(x))
        seed = model.config.train.seed
        rows.append({"run": run, "setting": label, "seed": seed, "mu": mu, "logvar": logvar,
                     "MIG": mutual_information_gap(mu, factors)["mig"],
                     "MIG post.": posterior_mutual_information_gap(mu, logvar, factors, seed=seed)["mig"]})
        groups.setdefault(key, []).append(rows[-1])
        print(f"  measured {run}: MIG {rows[-1]['MIG']:.3f}, MIG post. {rows[-1]['MIG post.']:.3f}", flush=True)
    for members in groups.values():
        udr = udr_from_posteriors([(r["mu"], r["logvar"]) for r in members])["udr"] if len(members) > 1 else \
            [None]
        for r, u in zip(members, udr):
            r["UDR"] = u
    for r in rows:
        del r["mu"], r["logvar"]
    return rows


def summarise(rows: list[dict]) -> dict:
    scored = [r for r in rows if r["UDR"] is not None]
    summary = {"settings": []}
    for label in dict.fromkeys(r["setting"] for r in scored):
        members = [r for r in scored if r["setting"] == label]
        best = max(r["UDR"] for r in members)
        picked = [r for r in members if r["UDR"] == best]
        if len(picked) > 1:  # two seeds share one pair, so one median: UDR cannot choose
            picked = [{"seed": None, "MIG": None}]
        summary["settings"].append({"setting": label, "seeds": [r["seed"] for r in members],
                                    "picked_seed": picked[0]["seed"], "picked_MIG": picked[0]["MIG"],
                                    "median_MIG": float(np.median([r["MIG"] for r in members])),
                                    "best_MIG": max(r["MIG"] for r in members)})
    if len(scored) > 2:
        udr = [r["UDR"] for r in scored]
        summary["spearman_udr_mig"] = float(spearmanr(udr, [r["MIG"] for r in scored]).statistic)
        summary["spearman_udr_mig_posterior"] = float(spearmanr(udr, [r["MIG post."] for r in scored]).statistic)
        top = max(scored, key=lambda r: r["UDR"])
        summary["top_udr"] = {"run": top["run"], "UDR": top["UDR"], "MIG": top["MIG"], "MIG post.": top["MIG post."]}
        summary["median_MIG_all"] = float(np.median([r["MIG"] for r in scored]))
    return summary


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m bench.udr_selection", description=__doc__.split("\n")[0],
                                epilog="example: python -m bench.udr_selection runs/disentangle/tcvae-beta-6*")
    p.add_argument("runs", nargs="+", help="run folders on dSprites; seeds of a setting are compared with each other")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    command = command_line("bench.udr_selection", argv)
    print(f"command: {command}\n")
    rows = measure([str(Path(r)) for r in args.runs])
    summary = summarise(rows)
    width = max(len("setting"), *(len(r["setting"]) for r in rows))
    print(f"\n{'setting':<{width}} {'seed':>4} {'UDR':>6} {'MIG':>6} {'MIG post.':>9}  run")
    for r in sorted(rows, key=lambda r: (r["setting"], -(r["UDR"] or 0))):
        udr = "n/a" if r["UDR"] is None else f"{r['UDR']:.3f}"
        print(f"{r['setting']:<{width}} {r['seed']:>4} {udr:>6} {r['MIG']:6.3f} {r['MIG post.']:9.3f}  {r['run']}")
    print()
    for s in summary["settings"]:
        pick = ("UDR ties: no pick" if s["picked_seed"] is None else
                f"UDR picks seed {s['picked_seed']} of {len(s['seeds'])}, MIG {s['picked_MIG']:.3f}")
        print(f"{s['setting']}: {pick} (median MIG of the seeds {s['median_MIG']:.3f}, best {s['best_MIG']:.3f})")
    if "top_udr" in summary:
        t = summary["top_udr"]
        print(f"Spearman rank correlation over the runs with a UDR: UDR vs MIG {summary['spearman_udr_mig']:.2f}, "
              f"vs MIG post. {summary['spearman_udr_mig_posterior']:.2f}")
        print(f"highest UDR: {t['run']} (UDR {t['UDR']:.3f}): MIG {t['MIG']:.3f}, MIG post. {t['MIG post.']:.3f} "
              f"(median MIG of all these runs {summary['median_MIG_all']:.3f})")
    results = {"command": command, "runs": rows, **summary}
    write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
