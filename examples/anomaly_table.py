"""Anomaly scores for a table of numbers: train on normal rows only, flag the rest.

The data: scikit-learn's breast-cancer table (569 tumours, 30 measurements), written out as a CSV
file as you would have yours. A VAE learns the benign tumours only; its negative ELBO is the
anomaly score; the threshold flags 5% of held-out benign rows; malignant ones should score high.

    python examples/anomaly_table.py [--epochs 200] [--out runs/example-anomaly]
"""
import argparse
from pathlib import Path

from sklearn.datasets import load_breast_cancer

import vaelab
from vaelab.apps.anomaly import detect, examples_to_score, fit_detector


def write_csv(path: Path) -> None:
    data = load_breast_cancer()
    names = [n.replace(" ", "_") for n in data.feature_names]
    lines = [",".join([*names, "diagnosis"])]
    lines += [",".join([*(f"{v:.6g}" for v in row), data.target_names[t]]) for row, t in zip(data.data, data.target)]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--out", default="runs/example-anomaly")
    args = p.parse_args()
    table = Path(f"{args.out}-tumours.csv")
    table.parent.mkdir(parents=True, exist_ok=True)
    write_csv(table)

    # The label column names the class; labels sort as text: benign = 0, malignant = 1. Keep benign.
    model = vaelab.fit(f"csv:{table}", args.out, label_column="diagnosis", keep_labels=(0,), model="mlp",
                       hidden=(32,), latent_dim=4, likelihood="gaussian-learned", val_size=40,
                       epochs=args.epochs, batch_size=32, progress=False)
    record = fit_detector(model, fpr=0.05)  # on held-out benign rows; kept in the run folder, as `anomaly fit` does
    print(f"threshold: {record['threshold']:.2f} nats of negative ELBO")

    x, y = examples_to_score(model.run, split="test")  # the test rows of every class, scaled as in training
    result = detect(model, x, y)
    m = result["metrics"]
    print(f"{m['n']} test tumours, {m['anomalies']} malignant: AUROC {m['auroc']:.3f}, "
          f"average precision {m['average_precision']:.3f}")
    flagged, malignant = result["flagged"], result["is_anomaly"]
    print(f"flagged {int(flagged.sum())}: {int((flagged & malignant).sum())} of {int(malignant.sum())} malignant, "
          f"{int((flagged & ~malignant).sum())} of {int((~malignant).sum())} benign")


if __name__ == "__main__":
    main()
