# %% [markdown]
# # Two training recipes: no weight decay on BatchNorm, zero-init gamma
#
# Two habits concern the parameters of BatchNorm, gamma (the weight) and
# beta (the bias):
#
# - **No weight decay on normalization parameters.** Weight decay pulls
#   every parameter it is applied to towards zero. For gamma, that
#   shrinks the scale of the normalized output. The recipe puts the
#   parameters into two groups: weight decay on the weights of
#   convolutions and linear layers only.
# - **Zero-init gamma.** Set gamma to 0 in the last BatchNorm of every
#   residual block. Each block then starts as the identity.
#
# A small residual network on Fashion-MNIST is trained with SGD and weight
# decay in three ways: weight decay on every parameter; weight decay only
# on the weights of convolutions and linear layers (parameter groups);
# and the same with zero-init gamma. Each way runs for a few seeds. We
# compare test accuracy, the early training loss and the final size of
# the BatchNorm weights.

# %%
import matplotlib.pyplot as plt
import torch
from torch import nn

from snippets.experiments.resnet import (
    BasicBlock,
    parameter_groups,
    small_resnet,
)
from snippets.support import data
from snippets.support.compare import Comparison
from snippets.support.report import FAST, Report
from snippets.support.rules import HIGHER, LOWER, Equal, Paired
from snippets.support.training import accuracy, smooth, train

# %% [markdown]
# The settings of every run: `STEPS` optimizer steps of SGD with learning
# rate `LR`, momentum `MOMENTUM`, weight decay `WEIGHT_DECAY`, batches of
# `BATCH` images, and the seeds in `SEEDS`. Test accuracy is measured on a
# part of the Fashion-MNIST test set, to keep the runs short. `EARLY` is
# the number of first steps whose mean loss measures how fast a run
# starts.

# %%
report = Report("practice_recipes")
x_train, y_train = data.load("fashion_mnist", train=True)
x_test, y_test = data.load("fashion_mnist", train=False)
x_test, y_test = (x_test[:1000 if FAST else 5000],
                  y_test[:1000 if FAST else 5000])
STEPS = 30 if FAST else 200
LR, MOMENTUM, WEIGHT_DECAY, BATCH = 0.1, 0.9, 5e-3, 32
SEEDS = [0, 1, 2]
EARLY = 10 if FAST else 50  # steps whose mean loss measures the start

# %% [markdown]
# ## At initialization
#
# `small_resnet` (in `snippets/experiments/resnet.py`) builds a stem (a
# convolution, BatchNorm2d and ReLU), then a row of basic blocks, then
# pooling and a classifier. A basic block computes
# `relu(x + bn2(conv2(relu(bn1(conv1(x))))))`. With
# `zero_init_residual=True`, gamma of each `bn2` is 0.
#
# With gamma = 0, the last BatchNorm of a block outputs its beta, which
# is 0 at initialization: the residual branch adds nothing, and the
# block's output is relu(x). That is x itself, because x comes out of a
# ReLU and has no negative values.
#
# The code feeds a batch of images through the stem, then through the
# blocks one by one, and prints how far each block's output is from its
# input, once for each setting. Look at the second line: if each block
# starts as the identity, every entry is exactly 0. The first line is
# the usual start, for comparison.

# %%
# --8<-- [start:identity]
torch.manual_seed(0)
for zero_init in (False, True):
    model = small_resnet(zero_init_residual=zero_init)
    h, gaps = model[:3](x_train[:64]), []  # the stem's output: >= 0
    for block in model[3:9]:
        out = block(h)
        gaps.append((out - h).abs().max().item())
        h = out
    print(f"zero_init_residual={zero_init}: block output minus input",
          [f"{g:.2g}" for g in gaps])
# --8<-- [end:identity]

# %% [markdown]
# ## Training, three ways, a few seeds
#
# `optimizer_for` builds the optimizer of one variant. With weight decay
# on every parameter, SGD gets `model.parameters()` and one
# `weight_decay`. Otherwise it gets the two groups of `parameter_groups`:
# weight decay on the weights of convolutions and linear layers, none on
# the parameters of normalization layers or on any bias.
#
# For each seed, the three variants start from the same initial weights
# (except the gammas that zero-init sets to 0) and see the same batches.
# A cosine schedule takes the learning rate from `LR` down to 0 over the
# `STEPS` steps. After each run, the code records four things: the test
# accuracy (in eval mode), the mean loss of the first `EARLY` steps, the
# mean |gamma| over all the BatchNorm layers, and the loss of every step.
#
# This is the slowest cell of the example: it trains one network per
# variant and per seed.

# %%
# --8<-- [start:variants]
def optimizer_for(model, variant):
    if variant == "decay on every parameter":
        return torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM,
                               weight_decay=WEIGHT_DECAY)
    return torch.optim.SGD(parameter_groups(model, WEIGHT_DECAY), lr=LR,
                           momentum=MOMENTUM)


variants = ["decay on every parameter", "no decay on norms and biases",
            "... and zero-init last gamma"]
runs = {v: {"accuracy": [], "early loss": [], "gamma": [], "losses": []}
        for v in variants}
for seed in SEEDS:
    for variant in variants:
        torch.manual_seed(seed)
        model = small_resnet(zero_init_residual=variant.startswith("..."))
        optimizer = optimizer_for(model, variant)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer,
                                                              STEPS)
        losses = train(model, x_train, y_train, epochs=1, batch_size=BATCH,
                       optimizer=optimizer, seed=seed, max_steps=STEPS,
                       label=variant,
                       callback=lambda _, schedule=schedule: schedule.step())
        gammas = torch.cat([m.weight.detach().abs() for m in model.modules()
                            if isinstance(m, nn.BatchNorm2d)])
        runs[variant]["accuracy"].append(accuracy(model, x_test, y_test))
        runs[variant]["early loss"].append(sum(losses[:EARLY]) / EARLY)
        runs[variant]["gamma"].append(gammas.mean().item())
        runs[variant]["losses"].append(losses)
# --8<-- [end:variants]

# %% [markdown]
# The raw results, one line per variant, one number per seed in each list.
# Compare the lists seed by seed across the lines: the seeds are the
# pairs, since a seed fixes the initial weights and the batches. The
# first two lines differ only in the weight decay: the second line has
# none on gamma and beta, and none on the classifier's bias, the only
# other bias of this network. For the zero-init line, remember that the
# gammas set to 0 are part of the mean in its `gamma` list.

# %%
for variant in variants:
    print(variant, {k: [round(v, 4) for v in values] for k, values in
                    runs[variant].items() if k != "losses"})

# %% [markdown]
# The figure shows the training loss of every run, smoothed over a few
# steps, one colour per variant. Look at the start first: a zero-init
# network begins with every block as the identity, so its first steps
# may differ from the others. Then look at the end, and at how far the
# runs of one variant spread: a gap between two variants means little if
# it is smaller than the spread between seeds.

# %%
window = 20  # steps in the moving average
fig, ax = plt.subplots()
for i, variant in enumerate(variants):
    for j, losses in enumerate(runs[variant]["losses"]):
        ax.plot(smooth(losses, window), color=f"C{i}", alpha=0.8,
                label=variant if j == 0 else None)
ax.set_xlabel("step")
ax.set_ylabel(f"training loss (moving average of {window} steps)")
ax.set_title(f"Small ResNet, SGD lr {LR} (cosine to 0), momentum {MOMENTUM}, "
             f"weight decay {WEIGHT_DECAY}, batch {BATCH}", fontsize=10)
ax.legend(fontsize=8)
report.figure(fig, "recipes")

# %% [markdown]
# ## The comparisons, seed by seed
#
# Four comparisons, each between two variants, with the seeds as pairs:
#
# - mean |gamma|: no decay on norms against decay on every parameter;
# - test accuracy: the same two variants;
# - test accuracy: zero-init gamma against gamma = 1 (both without decay
#   on norms);
# - mean loss of the first `EARLY` steps: the same two variants.
#
# In the table, "Variant" and "Reference" are the means over the seeds
# (test accuracy in percent). "Effect" is the mean of the per-seed
# differences, variant minus reference, and "By seed" their range.
# "Verdict" says "better" or "worse" only when the difference has the same
# sign on every seed, and "within seed-to-seed noise" when the sign
# differs between seeds. For the size of gamma, which is neither better
# nor worse, it says "larger" or "smaller" on every seed. With so few
# seeds, a verdict describes these runs; it does not make a general rule.
# Read the verdict column together with the "By seed" range.

# %%
decay_all, groups, zero = (runs[v] for v in variants)
gamma = Comparison(groups["gamma"], decay_all["gamma"])
groups_acc = Comparison(groups["accuracy"], decay_all["accuracy"])
zero_acc = Comparison(zero["accuracy"], groups["accuracy"])
zero_early = Comparison(zero["early loss"], groups["early loss"],
                        higher_is_better=False)


def verdict(c, name):
    """The verdict in words; the size of gamma is not better or worse."""
    if "gamma|" not in name or c.verdict not in ("better", "worse"):
        return c.verdict
    return ("larger" if c.verdict == "better" else "smaller") + \
        " on every seed"


rows = []
for name, c, scale, unit in [
        ("mean |gamma|: no decay on norms vs decay on all", gamma, 1, ""),
        ("test accuracy: no decay on norms vs decay on all", groups_acc,
         100, " points"),
        ("test accuracy: zero-init gamma vs not", zero_acc, 100, " points"),
        (f"mean loss of the first {EARLY} steps: zero-init gamma vs not",
         zero_early, 1, "")]:
    low, high = c.paired
    rows.append([name, f"{c.mean * scale:.3g}",
                 f"{c.reference_mean * scale:.3g}",
                 f"{c.effect * scale:+.2g}{unit}",
                 f"{low * scale:+.2g} to {high * scale:+.2g}",
                 verdict(c, name)])
report.table("comparisons", ["Comparison (variant vs reference)", "Variant",
                             "Reference", "Effect", "By seed", "Verdict"],
             rows)

# %% [markdown]
# ## For the site: values and claims
#
# The site's pages quote the numbers below, and each claim is a rule that
# the build checks against this run. A reader can skip this section.
#
# `probe` is one more network, built only to read its shape (the number
# of blocks, the channels and the size of the feature maps) for the
# page's description. The claims check the identity at initialization
# exactly, and each comparison seed by seed.

# %%
identity_gap = max(gaps)


def points(c):
    return f"{c.effect * 100:+.2f}"


probe = small_resnet()  # its shape, for the page's description
side = probe[:3](x_test[:1]).shape[-1]
report.values(
    blocks=sum(isinstance(m, BasicBlock) for m in probe),
    channels=probe[0].out_channels, side=side,
    steps=STEPS, lr=LR, test_images=f"{len(x_test):,}", momentum=MOMENTUM,
    seeds=len(SEEDS),
    weight_decay=WEIGHT_DECAY, batch=BATCH, early=EARLY,
    decay_factor=f"{WEIGHT_DECAY / 1e-4:.0f}",
    gamma_groups=f"{gamma.mean:.2f}", gamma_all=f"{gamma.reference_mean:.2f}",
    groups_effect=points(groups_acc),
    groups_low=f"{100 * groups_acc.paired[0]:.1f}",
    groups_high=f"{100 * groups_acc.paired[1]:.1f}",
    zero_low=f"{-100 * zero_acc.paired[1]:.1f}",
    zero_high=f"{-100 * zero_acc.paired[0]:.1f}",
    zero_effect=f"{abs(zero_acc.effect) * 100:.2f}",
    zero_early=f"{zero_early.mean:.2f}",
    groups_early=f"{zero_early.reference_mean:.2f}")
report.claim("zero_init_blocks_are_identity", Equal(
    "largest |block output - input| over the six blocks, zero-init gamma",
    identity_gap, 0))
report.claim("decay_shrinks_gamma", Paired(
    "mean |gamma| of the BatchNorm layers", "decay on every parameter",
    decay_all["gamma"], "no decay on norms and biases", groups["gamma"],
    LOWER))
report.claim("groups_accuracy_better", Paired(
    "test accuracy", "no decay on norms and biases", groups["accuracy"],
    "decay on every parameter", decay_all["accuracy"], HIGHER, scale=100,
    unit=" points"))
report.claim("zero_init_starts_slower", Paired(
    f"mean training loss of the first {EARLY} steps", "zero-init last gamma",
    zero["early loss"], "gamma = 1", groups["early loss"], HIGHER))
report.claim("zero_init_accuracy_worse", Paired(
    "test accuracy", "zero-init last gamma", zero["accuracy"], "gamma = 1",
    groups["accuracy"], LOWER, scale=100, unit=" points"))
