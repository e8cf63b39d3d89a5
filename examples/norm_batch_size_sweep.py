# %% [markdown]
# # BatchNorm, GroupNorm and LayerNorm as the batch shrinks
#
# The same small CNN on Fashion-MNIST with three normalization layers,
# trained for the same number of epochs at batch sizes from 2 to 128, then
# tested in eval mode. BatchNorm's statistics come from the batch, so they
# get noisy as it shrinks; GroupNorm and LayerNorm normalize each sample on
# its own. A small-scale analogue of Wu & He's Figure 1.

# %%
import matplotlib.pyplot as plt
import torch
from torch import nn

from snippets.support import data
from snippets.experiments.models import small_cnn
from snippets.support.report import FAST, Report
from snippets.support.training import accuracy, train

report = Report("norm_batch_size_sweep")
x_train, y_train = data.load("fashion_mnist", train=True)
x_test, y_test = data.load("fashion_mnist", train=False)
TRAIN_SIZE = 600 if FAST else 6000
x_train, y_train = x_train[:TRAIN_SIZE], y_train[:TRAIN_SIZE]
BATCH_SIZES = [2, 8, 32] if FAST else [2, 4, 8, 16, 32, 64, 128]
SEEDS = [0] if FAST else [0, 1]

# %%
# --8<-- [start:sweep]
norms = {
    "BatchNorm2d": nn.BatchNorm2d,
    "GroupNorm(4, C)": lambda c: nn.GroupNorm(4, c),
    "LayerNorm, as GroupNorm(1, C)": lambda c: nn.GroupNorm(1, c),
}
results = {}  # (norm, batch size) -> test accuracy per seed
for name, norm in norms.items():
    for batch_size in BATCH_SIZES:
        for seed in SEEDS:
            torch.manual_seed(seed)
            model = small_cnn(channels=(8, 16), norm=norm)
            train(model, x_train, y_train, epochs=1, batch_size=batch_size,
                  optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
                  seed=seed, label=f"{name}, batch {batch_size}")
            results.setdefault((name, batch_size), []).append(
                accuracy(model, x_test, y_test))
# --8<-- [end:sweep]

# %%
def mean(values):
    return sum(values) / len(values)


fig, ax = plt.subplots()
for i, name in enumerate(norms):
    accs = [results[name, b] for b in BATCH_SIZES]
    ax.plot(BATCH_SIZES, [mean(a) for a in accs], "o-", color=f"C{i}",
            label=name)
    for b, a in zip(BATCH_SIZES, accs):  # every seed, as a faint dot
        ax.scatter([b] * len(a), a, color=f"C{i}", s=10, alpha=0.4)
ax.set_xscale("log", base=2)
ax.set_xticks(BATCH_SIZES, [str(b) for b in BATCH_SIZES])
ax.set_xlabel("batch size (training)")
ax.set_ylabel("test accuracy (eval mode)")
ax.set_title(f"Small CNN, {TRAIN_SIZE} Fashion-MNIST images, one epoch, "
             f"{len(SEEDS)} seed{'s' if len(SEEDS) > 1 else ''}",
             fontsize=10)
ax.legend(fontsize=8)
report.figure(fig, "sweep")

# %% [markdown]
# ## How many values each BatchNorm statistic is computed from
#
# A BatchNorm2d statistic pools N x H x W values per channel, so with
# large feature maps even a batch of two gives many values.

# %%
# --8<-- [start:values]
counts = []
probe = small_cnn(channels=(8, 16), norm=nn.BatchNorm2d)
hooks = [m.register_forward_hook(
    lambda m, inputs, out: counts.append(
        inputs[0].numel() // inputs[0].size(1)))
    for m in probe.modules() if isinstance(m, nn.BatchNorm2d)]
probe(x_train[:BATCH_SIZES[0]])  # the smallest batch
for hook in hooks:
    hook.remove()
# --8<-- [end:values]
print("values per statistic, per BatchNorm layer:", counts)

# %%
header = ["Batch size"] + list(norms)
rows = [[b] + [f"{mean(results[n, b]):.1%}" for n in norms]
        for b in BATCH_SIZES]
report.table("sweep", header, rows)
smallest, largest = BATCH_SIZES[0], BATCH_SIZES[-1]
# Noise check: how far apart are seeds, and how far apart are layers?
seed_spread = max(max(a) - min(a) for a in results.values())
layer_gap = max(max(mean(results[n, b]) for n in norms)
                - min(mean(results[n, b]) for n in norms)
                for b in BATCH_SIZES)
noise = (f"Two seeds of the same layer and batch size differ by up to "
         f"{seed_spread:.1%} (in accuracy points), and the layers' means by "
         f"at most {layer_gap:.1%} at any batch size: "
         + ("differences of this size are within run-to-run noise."
            if layer_gap <= seed_spread else
            "the largest gap exceeds the spread between seeds.")
         if len(SEEDS) > 1 else "With one seed, the noise is not measured.")
bn, gn, ln = list(norms)
report.values(
    train_size=TRAIN_SIZE, smallest=smallest,
    seeds_text=f"{len(SEEDS)} seed{'s' if len(SEEDS) > 1 else ''}",
    largest=largest,
    bn_small=f"{mean(results[bn, smallest]):.1%}",
    bn_large=f"{mean(results[bn, largest]):.1%}",
    gn_small=f"{mean(results[gn, smallest]):.1%}",
    gn_large=f"{mean(results[gn, largest]):.1%}",
    ln_small=f"{mean(results[ln, smallest]):.1%}",
    best_small=max(norms, key=lambda n: mean(results[n, smallest])),
    best_large=max(norms, key=lambda n: mean(results[n, largest])),
    values_per_stat=" and ".join(str(c) for c in counts), noise=noise,
    verdict=("did not fall behind at the smallest batch size, unlike "
             "BatchNorm in Wu & He's experiment"
             if mean(results[bn, smallest]) >= max(
                 mean(results[gn, smallest]), mean(results[ln, smallest]))
             - 0.005 else
             "fell behind at the smallest batch size, as in Wu & He's "
             "experiment"),
)
