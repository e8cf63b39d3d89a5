"""LeNet-5 as the d2l book trains it, and the one short training run that
every study on the experiments page repeats with a different model.

The studies change one thing at a time (the normalization layer, where it
sits, the learning rate, dropout, the bias), so everything else lives here.
"""

import time
from dataclasses import dataclass

import torch
from torch import nn

from snippets.support import data
from snippets.experiments.models import no_norm
from snippets.support.training import accuracy, train

CONV_WIDTHS = (6, 16)  # output channels of the two 5x5 convolutions
DENSE_WIDTHS = (120, 84)  # the two hidden linear layers
LAYER_NAMES = ("conv1", "conv2", "fc1", "fc2")


# --8<-- [start:lenet]
def lenet(norm2d=nn.BatchNorm2d, norm1d=nn.BatchNorm1d, *,
          normalize=(0, 1, 2, 3), after_activation=False, bias=None,
          dropout=0.0):
    """LeNet-5 with sigmoid activations and average pooling (as in d2l).

    ``norm2d(C)`` follows the hidden conv layers and ``norm1d(F)`` the
    hidden linear layers listed in ``normalize`` (0, 1: conv1, conv2;
    2, 3: fc1, fc2), before the activation unless ``after_activation``.
    ``bias`` (default: only where no normalization subtracts the mean
    right after) and ``dropout`` after each hidden linear layer's
    activation complete the knobs the studies turn.

    >>> lenet(normalize=(0,))[:4]
    Sequential(
      (0): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), bias=False)
      (1): BatchNorm2d(6, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
      (2): Sigmoid()
      (3): AvgPool2d(kernel_size=2, stride=2, padding=0)
    )
    >>> lenet()(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """
    layers = []

    def block(index, make_layer, norm, width):
        norm = norm if index in normalize else no_norm
        has_bias = (norm is no_norm or after_activation) if bias is None \
            else bias
        parts = [norm(width), nn.Sigmoid()]
        if after_activation:
            parts.reverse()
        layers.extend([make_layer(has_bias)] + parts)

    # PyTorch's default initialization draws random numbers, more of them
    # when there are biases; draw them from a copy of the generator so
    # that the init below, as in d2l's train_ch6 (Xavier), is the same for
    # every variant built from one seed.
    with torch.random.fork_rng(devices=[]):
        block(0, lambda b: nn.Conv2d(1, 6, 5, bias=b), norm2d, 6)
        layers.append(nn.AvgPool2d(2, 2))
        block(1, lambda b: nn.Conv2d(6, 16, 5, bias=b), norm2d, 16)
        layers += [nn.AvgPool2d(2, 2), nn.Flatten()]
        block(2, lambda b: nn.Linear(16 * 4 * 4, 120, bias=b), norm1d, 120)
        if dropout:
            layers.append(nn.Dropout(dropout))
        block(3, lambda b: nn.Linear(120, 84, bias=b), norm1d, 84)
        if dropout:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(84, 10))
    model = nn.Sequential(*[m for m in layers
                            if not isinstance(m, nn.Identity)])
    for module in model:
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model
# --8<-- [end:lenet]


def fashion_mnist(num_train=None, num_test=None):
    """``(x_train, y_train, x_test, y_test)``, the first ``num_train``
    training and ``num_test`` test images (all if None).

    >>> [len(t) for t in fashion_mnist(100, 50)]
    [100, 100, 50, 50]
    """
    x, y = data.load("fashion_mnist", train=True)
    x_test, y_test = data.load("fashion_mnist", train=False)
    return x[:num_train], y[:num_train], x_test[:num_test], y_test[:num_test]


@dataclass
class Result:
    """What one training run measured."""

    losses: list  # training loss of every step
    test_accuracy: list  # in eval mode, after the steps in evaluated_at
    evaluated_at: list
    train_accuracy: float  # at the end, in eval mode (None: not asked)
    seconds: float  # training only, without the evaluations
    steps_per_epoch: int
    model: nn.Module  # the trained model


# --8<-- [start:fit]
def fit(make_model, dataset, *, lr, epochs, batch_size=256, seed=0,
        evaluate_every=None, train_accuracy=False):
    """Build ``make_model()`` from ``seed`` and train it with SGD, as the
    d2l book trains LeNet; test accuracy is measured after every epoch
    (or every ``evaluate_every`` steps), and accuracy on the training set
    at the end if ``train_accuracy`` (a pass over all of it: not free).

    >>> d = fashion_mnist(512, 256)
    >>> r = fit(lenet, d, lr=1.0, epochs=2, batch_size=128)
    >>> len(r.losses), r.evaluated_at, r.steps_per_epoch
    (8, [4, 8], 4)
    """
    x, y, x_test, y_test = dataset
    torch.manual_seed(seed)  # the initial weights depend on the seed only
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    steps_per_epoch = -(-len(x) // batch_size)
    every = evaluate_every or steps_per_epoch
    test_accuracy, evaluated_at, evaluating = [], [], 0.0

    def after_step(step):
        nonlocal evaluating
        if step % every == 0:
            start = time.perf_counter()
            test_accuracy.append(accuracy(model, x_test, y_test))
            evaluated_at.append(step)
            model.train()  # accuracy() switched to eval mode
            evaluating += time.perf_counter() - start

    start = time.perf_counter()
    losses = train(model, x, y, epochs=epochs, batch_size=batch_size,
                   optimizer=optimizer, seed=seed, callback=after_step,
                   label=f"lr={lr} seed={seed}")
    seconds = time.perf_counter() - start - evaluating
    on_train = accuracy(model, x, y) if train_accuracy else None
    return Result(losses, test_accuracy, evaluated_at, on_train, seconds,
                  steps_per_epoch, model)
# --8<-- [end:fit]


def spread(values):
    """Mean, min and max, the way the tables show a few seeds.

    >>> spread([0.8, 0.9, 0.85])
    (0.85, 0.8, 0.9)
    """
    values = [float(v) for v in values]
    return round(sum(values) / len(values), 12), min(values), max(values)


def within_noise(a, b):
    """Whether two sets of runs (one value per seed) overlap: if the worst
    of one beats the best of the other, the gap is larger than the
    seed-to-seed spread seen here; otherwise we cannot rank them.

    >>> within_noise([0.80, 0.84], [0.83, 0.86]), within_noise([0.8], [0.9])
    (True, False)
    """
    return max(a) >= min(b) and max(b) >= min(a)


# --- comparing variants over a few seeds ---------------------------------

# --8<-- [start:repeat]
def repeat(variants, dataset, *, seeds, **fit_args):
    """Train each variant once per seed: ``{name: [Result per seed]}``.
    The same seed gives every variant the same batches."""
    return {name: [fit(make, dataset, seed=seed, **fit_args)
                   for seed in seeds]
            for name, make in variants.items()}
# --8<-- [end:repeat]


def last_epoch_loss(result):
    """Mean training loss over the last epoch: steadier than the loss of
    one step or the accuracy of the final weights."""
    losses = result.losses[-result.steps_per_epoch:]
    return sum(losses) / len(losses)


# name: (value of one run, whether higher is better)
METRICS = {"test accuracy": (lambda r: r.test_accuracy[-1], True),
           "train accuracy": (lambda r: r.train_accuracy, True),
           "last-epoch loss": (last_epoch_loss, False),
           # how much better the model does on the images it trained on
           "train-test gap": (lambda r: r.train_accuracy
                              - r.test_accuracy[-1], False)}


def measured(results, name, metric):
    """The values of ``metric`` for variant ``name``, one per seed."""
    return [METRICS[metric][0](r) for r in results[name]]


def seed_rows(results, metrics=("test accuracy", "last-epoch loss")):
    """Table rows: the variant, then per metric "mean (min to max)".

    >>> r = Result([1.0, 0.5], [0.8], [2], 0.9, 1.0, 1, None)
    >>> seed_rows({"BN": [r, r]})
    [['BN', '80.0% (80.0% to 80.0%)', '0.500 (0.500 to 0.500)']]
    """
    rows = []
    for name in results:
        row = [name]
        for metric in metrics:
            mean, low, high = spread(measured(results, name, metric))
            form = "{:.3f}" if "loss" in metric else "{:.1%}"
            row.append(f"{form.format(mean)} ({form.format(low)} to "
                       f"{form.format(high)})")
        rows.append(row)
    return rows


def seed_figure(results, setting, metrics=("test accuracy",
                                           "last-epoch loss")):
    """One panel per metric; one row per variant, one dot per seed. The
    title is ``setting`` followed by the number of seeds."""
    import matplotlib.pyplot as plt

    names = list(results)
    fig, axes = plt.subplots(1, len(metrics), sharey=True,
                             figsize=(7.2, 0.5 + 0.45 * len(names)))
    for ax, metric in zip(axes, metrics):
        for i, name in enumerate(names):
            values = measured(results, name, metric)
            ax.scatter(values, [i] * len(values), color=f"C{i}", s=18,
                       alpha=0.8)
            ax.plot([sum(values) / len(values)] * 2, [i - 0.25, i + 0.25],
                    color=f"C{i}", lw=2)
        ax.set_xlabel(metric)
    axes[0].set_yticks(range(len(names)), names, fontsize=8)
    axes[0].invert_yaxis()
    seeds = len(next(iter(results.values())))
    fig.suptitle(f"{setting}, {seeds} seeds (dots), mean (bar)",
                 fontsize=10)
    return fig


def compared_with(results, reference, metric="test accuracy", label=None,
                  words=("better", "worse")):
    """Each variant against ``reference`` (called ``label`` in the words),
    in words (``words``: for higher-is-better and the opposite, as this
    metric goes), from the seeds.

    >>> good = Result([0.2], [0.9], [1], 0.9, 1.0, 1, None)
    >>> bad = Result([0.9], [0.5], [1], 0.5, 1.0, 1, None)
    >>> compared_with({"BN": [good], "none": [bad]}, "BN")
    {'none': 'worse than BN on every seed'}
    >>> compared_with({"BN": [good], "none": [bad]}, "BN", label="")
    {'none': 'worse on every seed'}
    >>> compared_with({"BN": [good], "none": [bad]}, "BN", "last-epoch loss",
    ...               label="", words=("lower", "higher"))
    {'none': 'higher on every seed'}
    """
    ref = measured(results, reference, metric)
    label = reference if label is None else label
    than, of = (f" than {label}", f" of {label}") if label else ("", "")
    higher_is_better = METRICS[metric][1]
    verdicts = {}
    for name in results:
        if name == reference:
            continue
        values = measured(results, name, metric)
        if within_noise(values, ref):
            verdicts[name] = f"within seed-to-seed noise{of}"
        elif (min(values) > max(ref)) == higher_is_better:
            verdicts[name] = f"{words[0]}{than} on every seed"
        else:
            verdicts[name] = f"{words[1]}{than} on every seed"
    return verdicts
