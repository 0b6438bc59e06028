"""Training callbacks and the TensorBoard and MLflow loggers built on them: every scalar they log is
the metrics.jsonl value, pictures and config come along, a resume goes on in the same TensorBoard
folder and MLflow run, and a logger that cannot work stops training before it starts."""
from __future__ import annotations

import json
import sys

import pytest
import torch

import vaelab
from vaelab.cli import main
from vaelab.track import logger
from vaelab.track.snapshot import scalars

pytest.importorskip("tensorboard")
pytest.importorskip("mlflow")

OPTIONS = dict(model="mlp", latent_dim=2, batch_size=32, progress=False)


def records(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def tensorboard_scalars(folder) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}, events


class Recorder(vaelab.Callback):
    def __init__(self):
        self.calls = []

    def on_train_start(self, view):
        self.calls.append(("start", view.first_epoch))

    def on_epoch_end(self, view, record):
        self.calls.append(("epoch", dict(record)))

    def on_train_end(self, view, error):
        self.calls.append(("end", error))


def test_callbacks_get_exactly_the_metrics_lines_and_leave_training_as_it_was(tiny_idx, tmp_path):
    recorder = Recorder()
    with_logs = vaelab.fit(f"idx:{tiny_idx}", tmp_path / "a", epochs=2, callbacks=[recorder, logger(
        f"tensorboard:{tmp_path / 'tb'}", images_every=1)], **OPTIONS)
    plain = vaelab.fit(f"idx:{tiny_idx}", tmp_path / "b", epochs=2, **OPTIONS)
    assert recorder.calls[0] == ("start", 1) and recorder.calls[-1] == ("end", None)
    assert [r for kind, r in recorder.calls if kind == "epoch"] == records(tmp_path / "a")
    for a, b in zip(with_logs.network.state_dict().values(), plain.network.state_dict().values()):
        assert torch.equal(a, b)  # drawing pictures every epoch changed no weight and no random draw


def test_tensorboard_holds_every_scalar_pictures_and_the_config_and_resume_goes_on(tiny_idx, tmp_path):
    run, tb = tmp_path / "run", tmp_path / "tb"
    vaelab.fit(f"idx:{tiny_idx}", run, epochs=2, callbacks=[logger(f"tensorboard:{tb}", images_every=2)], **OPTIONS)
    vaelab.fit(f"idx:{tiny_idx}", run, resume=True, epochs=3, callbacks=[logger(f"tensorboard:{tb}", 2)],
               progress=False)
    logged, events = tensorboard_scalars(tb)
    expected = {}
    for record in records(run):
        for name, value in scalars(record).items():
            expected.setdefault(name, []).append((record["epoch"], value))
    for name, points in expected.items():
        assert [step for step, _ in logged[name]] == [step for step, _ in points], name  # each epoch once
        assert [v for _, v in logged[name]] == pytest.approx([v for _, v in points], rel=1e-6), name
    assert set(events.Tags()["images"]) == {"samples", "reconstructions"}
    assert [e.step for e in events.Images("samples")] == [2, 3]  # every 2 epochs, and the last
    assert events.PluginTagToContent("hparams")  # the config, as TensorBoard's hyperparameter table
    kept = [r for r in records(run) if r["best"]][-1]
    assert logged["best_val_loss"][-1] == (kept["epoch"], pytest.approx(kept["val_loss"], rel=1e-6))
    final = final_evaluation_of(run)  # the kept model on the test split, as vaelab evaluate reports it
    for name in ("elbo", "kl", "nll_iwae", "bits_per_dim"):
        assert logged[f"test_{name}"][-1] == (3, pytest.approx(final[name], rel=1e-6)), name  # (and at 2, the first call's)


def final_evaluation_of(run) -> dict:
    from vaelab.metrics.likelihood import evaluate
    from vaelab.track.snapshot import FINAL_EXAMPLES, FINAL_IWAE_K

    model = vaelab.load(run)
    splits = model.run.data()
    return evaluate(model, splits, "test", iwae_k=FINAL_IWAE_K, n=min(FINAL_EXAMPLES, len(splits.test)))


def test_mlflow_run_holds_every_scalar_exactly_and_resume_continues_it(tiny_idx, tmp_path):
    from mlflow.tracking import MlflowClient

    run, store = tmp_path / "run", tmp_path / "mlruns"
    vaelab.fit(f"idx:{tiny_idx}", run, epochs=2, callbacks=[logger(f"mlflow:{store}", 2)], **OPTIONS)
    first = json.loads((run / "tracking.json").read_text())["mlflow"]["run_id"]
    vaelab.fit(f"idx:{tiny_idx}", run, resume=True, epochs=3, lr=5e-4, callbacks=[logger(f"mlflow:{store}", 2)],
               progress=False)
    client = MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("vaelab").experiment_id])
    assert [r.info.run_id for r in runs] == [first]  # the resume went on in the same MLflow run
    assert runs[0].info.status == "FINISHED"
    for record in records(run):
        for name, value in scalars(record).items():
            history = [(m.step, m.value) for m in client.get_metric_history(first, name) if m.step == record["epoch"]]
            assert history == [(record["epoch"], value)], name
    final = final_evaluation_of(run)
    assert [(m.step, m.value) for m in client.get_metric_history(first, "test_elbo")][-1] == (3, final["elbo"])
    params = runs[0].data.params
    assert params["model.latent_dim"] == "2" and params["train.lr"] == "0.001"
    assert "lr" in runs[0].data.tags["course_change.epoch_3"]
    pictures = {f.path for f in client.list_artifacts(first, "samples")}
    assert pictures == {"samples/epoch_0002.png", "samples/epoch_0003.png"}


def refused(capsys, *args) -> str:
    assert main([str(a) for a in args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


@pytest.mark.parametrize("spec,fragment", [
    ("wandb:x", "--log: a log is tensorboard:DIR or mlflow:DIR|URI, got 'wandb:x'"),
    ("tensorboard:", "a log is tensorboard:DIR"),
    ("mlflow:http://127.0.0.1:9", "cannot use the MLflow tracking store http://127.0.0.1:9"),
    ("mlflow:/proc/mlruns", "cannot make the MLflow folder /proc/mlruns"),
])
def test_a_log_that_cannot_work_stops_before_training(tiny_idx, tmp_path, capsys, spec, fragment):
    line = refused(capsys, "train", "--data", f"idx:{tiny_idx}", "--epochs", "1", "--quiet", "--log", spec,
                   "--out", tmp_path / "run")
    assert fragment in line
    assert not (tmp_path / "run").exists()


def test_a_missing_package_names_the_extra(tiny_idx, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    line = refused(capsys, "train", "--data", f"idx:{tiny_idx}", "--log", f"tensorboard:{tmp_path / 'tb'}",
                   "--out", tmp_path / "run")
    assert line.endswith("tensorboard is not installed; the 'track' extra (TensorBoard and MLflow logs) brings it: "
                         "pip install 'vaelab[track]'")
    assert not (tmp_path / "run").exists()


class Boom(vaelab.Callback):
    def on_epoch_end(self, view, record):
        raise RuntimeError("the tracking server went away")


def test_a_failing_callback_stops_training_in_one_line_and_keeps_the_epoch(tiny_idx, tmp_path):
    from vaelab.errors import ResourceError

    with pytest.raises(ResourceError, match="the callback Boom failed in on_epoch_end: 'the tracking server went"):
        vaelab.fit(f"idx:{tiny_idx}", tmp_path / "run", epochs=2, callbacks=[Boom()], **OPTIONS)
    assert [r["epoch"] for r in records(tmp_path / "run")] == [1]  # saved before the callback ran
