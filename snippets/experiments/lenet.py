"""LeNet-5 as the d2l book builds it, the one short training run that every
study on the experiments page repeats with a different model, and the way
those studies compare variants over seeds.

The studies change one thing at a time (the normalization layer, where it
sits, the learning rate, dropout, the bias), so everything else lives here.
"""

from dataclasses import dataclass

import torch
from torch import nn

from snippets.experiments.models import no_norm
from snippets.support import data
from snippets.support.compare import Comparison
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
    ``bias``: whether those four layers have a bias (default: only where
    no normalization layer follows them before the activation).
    ``dropout``: its probability, after each hidden linear layer's
    activation.

    >>> lenet(normalize=(0,))[:4]
    Sequential(
      (0): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), bias=False)
      (1): BatchNorm2d(6, eps=1e-05, momentum=0.1, affine=True, bias=True,
                       track_running_stats=True)
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
    # that the Xavier init below is the same for every variant of a seed.
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
            nn.init.xavier_uniform_(module.weight)  # as d2l's train_ch6
            if module.bias is not None:
                nn.init.zeros_(module.bias)  # our choice, not d2l's
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
    train_accuracy: list  # likewise on the training set (None: not asked)
    steps_per_epoch: int
    model: nn.Module  # the trained model


# --8<-- [start:fit]
def fit(make_model, dataset, *, lr, epochs, batch_size=256, seed=0,
        evaluate_at=None, train_accuracy=False):
    """Build ``make_model()`` from ``seed`` and train it with SGD, as the
    d2l book trains LeNet. Test accuracy (eval mode) is measured after
    each step in ``evaluate_at`` (default: after every epoch), and so is
    accuracy on the training set if ``train_accuracy``.

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
    if evaluate_at is None:
        evaluate_at = range(steps_per_epoch, epochs * steps_per_epoch + 1,
                            steps_per_epoch)
    evaluate_at = set(evaluate_at)
    test_accuracy, on_train, evaluated_at = [], [], []

    def after_step(step):
        if step in evaluate_at:
            test_accuracy.append(accuracy(model, x_test, y_test))
            if train_accuracy:
                on_train.append(accuracy(model, x, y))
            evaluated_at.append(step)
            model.train()  # accuracy() switched to eval mode

    losses = train(model, x, y, epochs=epochs, batch_size=batch_size,
                   optimizer=optimizer, seed=seed, callback=after_step,
                   label=f"lr={lr} seed={seed}")
    return Result(losses, test_accuracy, evaluated_at,
                  on_train if train_accuracy else None, steps_per_epoch,
                  model)
# --8<-- [end:fit]


def final_stretch(steps, span, count=3):
    """``count`` evenly spaced steps over the last ``span`` steps of a run
    of ``steps``, ending with the last: where the seed studies evaluate,
    so that a metric is a mean over the end of training, not a snapshot.
    A span shorter than ``count`` is widened to ``count`` steps, so that
    the steps are distinct.

    >>> final_stretch(78, 39)
    [52, 65, 78]
    >>> final_stretch(8, 1)
    [6, 7, 8]
    """
    if not 1 <= count <= steps:
        raise ValueError(f"cannot pick {count} distinct steps of {steps}")
    span = min(max(span, count), steps)
    return [steps - span + span * (i + 1) // count for i in range(count)]


# --- comparing variants over a few seeds ---------------------------------

# --8<-- [start:repeat]
def repeat(variants, dataset, *, seeds, **fit_args):
    """Train each variant once per seed: ``{name: [Result per seed]}``.
    The same seed gives every variant the same batches."""
    return {name: [fit(make, dataset, seed=seed, **fit_args)
                   for seed in seeds]
            for name, make in variants.items()}
# --8<-- [end:repeat]


def mean(values):
    values = [float(v) for v in values]
    return sum(values) / len(values)


def last_epoch_loss(result):
    """Mean training loss over the last epoch: steadier than the loss of
    one step."""
    return mean(result.losses[-result.steps_per_epoch:])


# name: (value of one run, whether higher is better). Accuracies are the
# mean over a run's evaluations, which the seed studies make at the end.
METRICS = {"test accuracy": (lambda r: mean(r.test_accuracy), True),
           # neither higher nor lower is better (None): a lower train
           # accuracy or a smaller gap is not by itself a better model
           "train accuracy": (lambda r: mean(r.train_accuracy), None),
           "last-epoch loss": (last_epoch_loss, False),
           # how much better the model does on the images it trained on
           "train-test gap": (lambda r: mean(r.train_accuracy)
                              - mean(r.test_accuracy), None)}


def is_accuracy(metric):
    return "loss" not in metric


def measured(results, name, metric):
    """The values of ``metric`` for variant ``name``, one per seed."""
    return [METRICS[metric][0](r) for r in results[name]]


def compare(results, name, reference, metric):
    """Variant ``name`` against ``reference`` on ``metric``, seed by seed
    (``snippets/support/compare.py`` states the procedure)."""
    return Comparison(measured(results, name, metric),
                      measured(results, reference, metric),
                      higher_is_better=METRICS[metric][1])


def level(value, metric):
    """A metric's value as the tables show it: accuracies in percent, a
    gap between two accuracies in percentage points, losses with three
    decimals.

    >>> level(0.8125, "test accuracy"), level(0.63849, "last-epoch loss")
    ('81.2%', '0.638')
    >>> level(0.132, "train-test gap")
    '13.2 points'
    """
    if "gap" in metric:
        return f"{100 * value:.1f} points"
    return f"{value:.1%}" if is_accuracy(metric) else f"{value:.3f}"


def difference(value, metric):
    """A difference of two values of ``metric``: accuracies in percentage
    points, losses in loss units, always signed.

    >>> difference(-0.0147, "test accuracy"), difference(0.012, "loss")
    ('-1.5 points', '+0.012')
    """
    if is_accuracy(metric):
        return f"{100 * value:+.1f} points"
    return f"{value:+.3f}"


def spread_text(values, metric):
    """Mean and range over seeds, e.g. ``81.0% (80.0% to 82.0%)``.

    >>> spread_text([0.087, 0.17], "train-test gap")
    '12.8 points (8.7 to 17.0)'
    """
    low, high = (level(v, metric).replace(" points", "")
                 for v in (min(values), max(values)))
    return f"{level(mean(values), metric)} ({low} to {high})"


def effect_text(comparison, metric):
    """Difference of the means, then the range of the per-seed
    differences.

    >>> c = Comparison([0.742, 0.742, 0.766], [0.768, 0.751, 0.776])
    >>> effect_text(c, "test accuracy")
    '-1.5 points (-2.6 to -0.9 by seed)'
    """
    low, high = comparison.paired
    if is_accuracy(metric):
        return (f"{100 * comparison.effect:+.1f} points ({100 * low:+.1f} "
                f"to {100 * high:+.1f} by seed)")
    return (f"{comparison.effect:+.3f} ({low:+.3f} to {high:+.3f} "
            "by seed)")


def comparison_rows(results, reference, metric):
    """Table rows for one metric: each variant's mean and range over the
    seeds, then, against ``reference``, the effect and the verdict."""
    rows = []
    for name in results:
        values = measured(results, name, metric)
        if name == reference:
            rows.append([name, spread_text(values, metric), "reference",
                         ""])
            continue
        c = compare(results, name, reference, metric)
        rows.append([name, spread_text(values, metric),
                     effect_text(c, metric), c.verdict])
    return rows


def comparison_table(report, name, results, reference, metric, label):
    """Write ``comparison_rows`` as table ``name``; ``label`` names the
    first column."""
    seeds = len(next(iter(results.values())))
    header = [label, f"{metric.capitalize()}, mean ({seeds} seeds: "
              "lowest to highest)", f"Difference from {reference}",
              "Verdict"]
    rows = comparison_rows(results, reference, metric)
    report.table(name, header, rows)
    return rows


MARKERS = "osD^v<>"  # one marker per seed, so that pairs can be followed


def seed_figure(results, setting, metrics=("test accuracy",
                                           "last-epoch loss")):
    """One panel per metric; one row per variant, one marker per seed
    (the same marker is the same seed in every row), mean as a bar."""
    import matplotlib.pyplot as plt

    names = list(results)
    seeds = len(results[names[0]])
    fig, axes = plt.subplots(1, len(metrics), sharey=True,
                             figsize=(7.2, 0.9 + 0.45 * len(names)))
    for ax, metric in zip(axes, metrics):
        scale = 100 if is_accuracy(metric) else 1
        for i, name in enumerate(names):
            values = [scale * v for v in measured(results, name, metric)]
            for seed, value in enumerate(values):
                ax.scatter(value, i, color=f"C{i}", s=22, alpha=0.8,
                           marker=MARKERS[seed % len(MARKERS)])
            ax.plot([mean(values)] * 2, [i - 0.3, i + 0.3],
                    color=f"C{i}", lw=2)
        unit = " (points)" if "gap" in metric else " (%)"
        ax.set_xlabel(metric + (unit if is_accuracy(metric) else ""))
    axes[0].set_yticks(range(len(names)), names, fontsize=8)
    axes[0].invert_yaxis()
    for seed in range(seeds):  # grey markers: a seed, whatever the row
        axes[-1].scatter([], [], color="0.4", s=22,
                         marker=MARKERS[seed % len(MARKERS)],
                         label=f"seed {seed}")
    axes[-1].legend(fontsize=7, loc="best")
    fig.suptitle(f"{setting}, {seeds} seeds (markers), mean (bar)",
                 fontsize=10)
    return fig
