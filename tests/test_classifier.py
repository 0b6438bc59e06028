"""The digit classifier that judges generated images: it learns, and its cache round-trips without retraining."""
import torch

import vaelab.data.mnist as mnist
import vaelab.metrics.classifier as classifier


def bars(n: int, seed: int):
    """Class 0: a horizontal bar; class 1: a vertical bar; at random positions."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=g)
    where = torch.randint(4, 24, (n,), generator=g)
    x = torch.zeros(n, 1, 28, 28, dtype=torch.uint8)
    for i in range(n):
        if labels[i]:
            x[i, 0, :, where[i]] = 250
        else:
            x[i, 0, where[i], :] = 250
    return x, labels


def test_classifier_learns_and_is_cached_without_pickle(tmp_path, monkeypatch):
    train_x, train_y = bars(3000, 0)
    test_x, test_y = bars(200, 1)
    monkeypatch.setenv("VAELAB_CACHE", str(tmp_path))
    monkeypatch.setattr(mnist, "load_mnist", lambda: ({"train_images": train_x, "train_labels": train_y,
                                                       "test_images": test_x, "test_labels": test_y}, 256.0))
    model = classifier.digit_classifier(progress=False)
    assert (model.predict(test_x.float() / 256) == test_y).float().mean() >= 0.97
    assert classifier.classifier_test_accuracy() >= 0.97
    assert (tmp_path / classifier.CACHE_NAME).read_bytes()[:8] != b"\x80\x04\x95"  # not a pickle

    def no_training(*args, **kwargs):
        raise AssertionError("the cached classifier should be loaded, not retrained")

    monkeypatch.setattr(classifier, "train_classifier", no_training)
    again = classifier.digit_classifier(progress=False)
    x = test_x[:20].float() / 256
    assert torch.equal(again.probabilities(x), model.probabilities(x))


def test_probabilities_sum_to_one_in_batches():
    model = classifier.DigitClassifier()
    p = model.probabilities(torch.rand(7, 784), batch_size=3)
    assert p.shape == (7, 10)
    torch.testing.assert_close(p.sum(-1), torch.ones(7))
