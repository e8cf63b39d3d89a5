# %% [markdown]
# # Small-batch remedies, measured
#
# BatchNorm needs a batch to compute its statistics. When each statistic
# comes from a few images only, it is noisy. This happens in a
# data-parallel run without synchronized BatchNorm, where each replica
# normalizes its own small part of the batch. It also happens with
# gradient accumulation.
#
# Here each optimizer step sees a batch of `BATCH` Fashion-MNIST images,
# but the normalization statistics come from micro-batches of a few of
# them (the sizes in `MICRO`). Ghost batch normalization simulates this
# in one process. Against it, we train:
#
# - Batch Renormalization on the same micro-batches;
# - GroupNorm, which needs no batch at all;
# - BatchNorm over the whole batch (what SyncBatchNorm would compute).
#
# The model is an MLP. Every variant gets the same batches and the same
# initial weights, for each seed in `SEEDS`. We compare test accuracy, in
# eval mode.

# %%
import matplotlib.pyplot as plt
import torch
from torch import nn

from snippets.experiments.models import mlp
from snippets.layers.small_batch import BatchRenorm, GhostBatchNorm
from snippets.support import data
from snippets.support.compare import Comparison
from snippets.support.report import FAST, Report
from snippets.support.rules import (
    HIGHER,
    LOWER,
    All,
    Below,
    Extreme,
    Greater,
    Paired,
)
from snippets.support.training import accuracy, train

# %% [markdown]
# The settings of every run: `STEPS` steps of Adam with learning rate
# `LR`, on batches of `BATCH` images; `MICRO` lists the micro-batch sizes,
# and `SEEDS` the seeds.

# %%
report = Report("practice_small_batch")
x_train, y_train = data.load("fashion_mnist", train=True)
x_test, y_test = data.load("fashion_mnist", train=False)
BATCH, STEPS, LR = 32, (40 if FAST else 400), 1e-3
MICRO = [2, 4, 8]
SEEDS = [0, 1, 2]

# %% [markdown]
# ## The variants and their training
#
# Both layers for micro-batches are in `snippets/layers/small_batch.py`.
# `GhostBatchNorm(c, m)` normalizes each micro-batch of `m` consecutive
# samples with its own statistics: it is BatchNorm applied to each
# micro-batch in turn. `BatchRenorm` does the same, then corrects the
# result towards what the running statistics give: `x_hat * r + d`, with
# `r` clipped to [1/r_max, r_max] and `d` clipped to [-d_max, d_max].
# With r_max = 1 and d_max = 0 there is no correction: it is then
# BatchNorm per micro-batch, the same as `GhostBatchNorm`.
#
# Here Batch Renormalization starts as BatchNorm per micro-batch and
# relaxes its limits gradually. `relax` sets the limits of every
# BatchRenorm layer of a model from the step number. Until a share
# `START` of the steps, r_max = 1 and d_max = 0. Then they rise linearly
# to `R_MAX` and `D_MAX` over a further share `RAMP` of the steps.
# `train` calls `relax` after every optimizer step; it changes nothing in
# the other variants.
#
# `variants` maps each name to a function of the micro-batch size. That
# function returns a layer constructor: a function of the number of channels
# that builds the normalization layer for the MLP. The two whole-batch
# variants run once per seed, with `BATCH` as their size; the two
# micro-batch variants run once per size in `MICRO` and per seed. The seed
# fixes the initial Linear weights and the order of the batches, so every
# variant of a seed starts from the same point.
#
# This is the slowest cell of the example: it trains one MLP per variant,
# size and seed.

# %%
# --8<-- [start:schedule]
START, RAMP, R_MAX, D_MAX = 0.2, 0.5, 3.0, 5.0


def relax(model, step):
    """The r_max and d_max of every BatchRenorm layer at ``step``."""
    t = min(max((step / STEPS - START) / RAMP, 0.0), 1.0)  # 0 -> 1
    for layer in model.modules():
        if isinstance(layer, BatchRenorm):
            layer.r_max, layer.d_max = 1 + (R_MAX - 1) * t, D_MAX * t


variants = {"BatchNorm over 32": lambda m: (lambda c: nn.BatchNorm1d(c)),
            "GroupNorm(4, C)": lambda m: (lambda c: nn.GroupNorm(4, c)),
            "BatchNorm per micro-batch (ghost)":
                lambda m: (lambda c: GhostBatchNorm(c, m)),
            "Batch Renormalization per micro-batch":
                lambda m: (lambda c: BatchRenorm(c, virtual_batch_size=m,
                                                 r_max=1, d_max=0))}
results = {}  # (variant, micro-batch size) -> accuracy per seed
for name, norm_for in variants.items():
    sizes = MICRO if "micro" in name else [BATCH]
    for m in sizes:
        for seed in SEEDS:
            torch.manual_seed(seed)  # the same initial Linear weights
            model = mlp(norm=norm_for(m))
            train(model, x_train, y_train, epochs=1, batch_size=BATCH,
                  optimizer=torch.optim.Adam(model.parameters(), lr=LR),
                  seed=seed, max_steps=STEPS, label=f"{name}, {m}",
                  callback=lambda step, model=model: relax(model, step))
            results.setdefault((name, m), []).append(
                accuracy(model, x_test, y_test))
# --8<-- [end:schedule]


# %% [markdown]
# ## The accuracy of every run
#
# The table lists every run: one row per variant and size, one column per
# seed, and the mean over the seeds. "Images per statistic" gives the size
# of the batch or micro-batch that the layer gets. For BatchNorm and Batch
# Renormalization, each statistic comes from that many images. GroupNorm is
# different: its column shows the whole batch, but each of its statistics
# comes from one image.
#
# Look down the rows of one micro-batch variant: as the micro-batches
# get smaller, each statistic comes from fewer images. Compare them with
# the two rows of whole-batch variants. Then compare the columns: how
# far apart are the seeds of one row? A difference between two rows that
# is smaller than this spread says little.

# %%
def mean(values):
    return sum(values) / len(values)


report.table("accuracy", ["Normalization", "Images per statistic",
                          *[f"Seed {s}" for s in SEEDS], "Mean"],
             [[name, m, *[f"{a:.2%}" for a in accs], f"{mean(accs):.2%}"]
              for (name, m), accs in results.items()])

# %% [markdown]
# The figure shows the same runs. The two micro-batch variants are lines
# of their mean accuracy against the micro-batch size, with each seed as
# a small dot. The two whole-batch variants do not depend on the
# micro-batch size, so they are dashed horizontal lines at their mean,
# with a band from their lowest to their highest seed.
#
# Look at how close the ghost BatchNorm line comes to the band of
# BatchNorm over the whole batch as the micro-batches grow. Then look at
# the gap between Batch Renormalization and ghost BatchNorm at each size,
# and at where the GroupNorm band sits.

# %%
ghost, renorm = list(variants)[2:]
full = results["BatchNorm over 32", BATCH]
group = results["GroupNorm(4, C)", BATCH]
fig, ax = plt.subplots()
for i, name in enumerate((ghost, renorm)):
    accs = [results[name, m] for m in MICRO]
    ax.plot(MICRO, [mean(a) for a in accs], "o-", color=f"C{i}", label=name)
    for m, a in zip(MICRO, accs):
        ax.scatter([m] * len(a), a, color=f"C{i}", s=10, alpha=0.4)
for i, (name, accs) in enumerate([("BatchNorm over 32", full),
                                  ("GroupNorm(4, C)", group)]):
    ax.axhline(mean(accs), color=f"C{i + 2}", ls="--", label=name)
    ax.axhspan(min(accs), max(accs), color=f"C{i + 2}", alpha=0.1)
ax.set_xscale("log", base=2)
ax.set_xticks(MICRO, [str(m) for m in MICRO])
ax.set_xlabel(f"images per normalization statistic (batches of {BATCH})")
ax.set_ylabel("test accuracy (eval mode)")
ax.set_title(f"MLP on Fashion-MNIST, {STEPS} steps of Adam, "
             f"{len(SEEDS)} seeds (dots; bands: range)", fontsize=10)
ax.legend(fontsize=8)
report.figure(fig, "small_batch")

# %% [markdown]
# ## The comparisons, seed by seed
#
# For each micro-batch size, three comparisons of test accuracy, each
# between two variants with the seeds as pairs:
#
# - Batch Renormalization against ghost BatchNorm, on the same
#   micro-batches: does the correction help?
# - ghost BatchNorm against BatchNorm over the whole batch: what do the
#   micro-batches cost?
# - GroupNorm against ghost BatchNorm: is a layer that needs no batch the
#   better choice at this size?
#
# A last row compares GroupNorm with BatchNorm over the whole batch.
#
# In the table, "Variant" and "Reference" are mean accuracies over the
# seeds. "Effect" is the mean of the per-seed differences, variant minus
# reference, in percentage points, and "By seed" their range. "Verdict"
# says "better" or "worse" only when the difference has the same sign on
# every seed, and "within seed-to-seed noise" when the sign differs
# between seeds. With so few seeds, a verdict describes these runs; it
# does not make a general rule.

# %%
comparisons = {}  # key -> (label, comparison of its own two sets of runs)
for m in MICRO:
    comparisons[f"renorm_{m}"] = (
        f"Batch Renorm vs BatchNorm, per micro-batch of {m}",
        Comparison(results[renorm, m], results[ghost, m]))
    comparisons[f"ghost_{m}"] = (
        f"BatchNorm per micro-batch of {m} vs over 32",
        Comparison(results[ghost, m], full))
    comparisons[f"group_{m}"] = (
        f"GroupNorm vs BatchNorm per micro-batch of {m}",
        Comparison(group, results[ghost, m]))
comparisons["group_full"] = ("GroupNorm vs BatchNorm over 32",
                             Comparison(group, full))
rows = []
for label, c in comparisons.values():
    low, high = c.paired
    rows.append([label, f"{c.mean:.2%}", f"{c.reference_mean:.2%}",
                 f"{c.effect * 100:+.2f}",
                 f"{low * 100:+.2f} to {high * 100:+.2f}", c.verdict])
report.table("comparisons", ["Comparison (variant vs reference)",
                             "Variant", "Reference", "Effect (points)",
                             "By seed (points)", "Verdict"], rows)

# %% [markdown]
# ## For the site: values and claims
#
# The site's pages quote the numbers below, and each claim is a rule that
# the build checks against this run. A reader can skip this section.
#
# `paired` and `micro` only build the rules and their labels. The claim
# `renorm_better_at_2` asks two things about Batch Renormalization on
# the smallest micro-batches. It asks that its accuracy is higher than
# that of BatchNorm on the same micro-batches, on every seed. It also
# asks that its mean accuracy is still below that of BatchNorm over the
# whole batch. Together they check that it recovers part of what the
# small batch loses, and not all of it.

# %%
report.values(steps=STEPS, batch=BATCH, seeds=len(SEEDS),
              micro_sizes=", ".join(str(m) for m in MICRO), lr=LR,
              relax_start=f"{START:.0%}", relax_end=f"{START + RAMP:.0%}",
              r_max=f"{R_MAX:g}", d_max=f"{D_MAX:g}",
              full=f"{mean(full):.2%}", group=f"{mean(group):.2%}",
              ghost_2=f"{mean(results[ghost, 2]):.2%}",
              renorm_2=f"{mean(results[renorm, 2]):.2%}")


def paired(name, variant, reference, expect):
    """Test accuracy of one set of runs against another, seed by seed."""
    return Paired("test accuracy", name, variant, reference[0],
                  reference[1], expect, scale=100, unit=" points")


def micro(variant, m):
    """The runs of ``variant`` (ghost or renorm) on micro-batches of m."""
    name = "BatchNorm" if variant == ghost else "Batch Renorm"
    return f"{name} per micro-batch of {m}", results[variant, m]


over_32 = (f"BatchNorm over {BATCH}", full)
report.claim("micro_worse_than_full_at_every_size", All([
    paired(*micro(ghost, m), over_32, LOWER) for m in MICRO]))
report.claim("micro_2_worst", Extreme(
    "mean test accuracy of BatchNorm per micro-batch",
    {f"{m} images": mean(results[ghost, m]) for m in MICRO}, "2 images",
    LOWER))
report.claim("renorm_better_at_2", All([
    paired(*micro(renorm, 2), micro(ghost, 2), HIGHER),
    Greater(f"BatchNorm over {BATCH}, mean test accuracy", mean(full),
            "Batch Renorm per micro-batch of 2, mean test accuracy",
            mean(results[renorm, 2]))]))
report.claim("renorm_close_at_4_and_8", All([
    Below(f"Batch Renorm minus BatchNorm per micro-batch of {m}, mean "
          "over seeds, absolute (points)",
          abs(comparisons[f"renorm_{m}"][1].effect) * 100, 1)
    for m in MICRO[1:]]))
group_runs = ("GroupNorm(4, C)", group)
report.claim("group_better_than_micro_2_and_4", All([
    paired(*group_runs, micro(ghost, m), HIGHER) for m in MICRO[:2]]))
report.claim("group_below_full", paired(*group_runs, over_32, LOWER))
group_gap = [100 * (f - g) for f, g in zip(full, group)]
report.values(group_gap_low=f"{min(group_gap):.2f}",
              group_gap_high=f"{max(group_gap):.2f}")
