# %% [markdown]
# # Two training recipes: no weight decay on BatchNorm, zero-init gamma
#
# A small residual network (six basic blocks) on Fashion-MNIST, trained
# with SGD and weight decay in three ways: weight decay on every
# parameter; weight decay only on the weights of convolutions and linear
# layers (parameter groups); and the same with gamma = 0 in the last
# BatchNorm of every residual block, so that each block starts as the
# identity. Three seeds each; test accuracy, the early training loss and
# the final size of the BatchNorm weights.

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
# With gamma = 0, the last BatchNorm of a block outputs its beta, 0: the
# residual branch adds nothing, and a block's output is relu(x), which is
# x, because x comes out of a ReLU. How far each block's output is from
# its input, for a batch of images:

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
identity_gap = max(gaps)

# %% [markdown]
# ## Training, three ways, three seeds

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
for variant in variants:
    print(variant, {k: [round(v, 4) for v in values] for k, values in
                    runs[variant].items() if k != "losses"})

# %%
fig, ax = plt.subplots()
for i, variant in enumerate(variants):
    for j, losses in enumerate(runs[variant]["losses"]):
        ax.plot(smooth(losses, 20), color=f"C{i}", alpha=0.8,
                label=variant if j == 0 else None)
ax.set_xlabel("step")
ax.set_ylabel("training loss (moving average of 20 steps)")
ax.set_title(f"Small ResNet, SGD lr {LR} (cosine to 0), momentum {MOMENTUM}, "
             f"weight decay {WEIGHT_DECAY}, batch {BATCH}", fontsize=10)
ax.legend(fontsize=8)
report.figure(fig, "recipes")

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
for row in rows:
    print(row)


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
