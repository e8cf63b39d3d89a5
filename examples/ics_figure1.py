# %% [markdown]
# # Ioffe & Szegedy's Figure 1, on Fashion-MNIST
#
# A fully connected network with three hidden layers of sigmoid units,
# trained with and without BatchNorm before each sigmoid, same optimizer
# and learning rate, over several seeds. We record the test accuracy, the
# 15th, 50th and 85th percentiles of the input to one sigmoid of the last
# hidden layer, and how much the inputs of every hidden layer's sigmoids
# move between measurements.
#
# Ioffe and Szegedy introduced batch normalization to reduce *internal
# covariate shift*: the change in the distribution of a layer's inputs
# that comes from training the layers below it. Their Figure 1 trains
# this kind of network on MNIST, with 3 fully connected hidden layers of
# 100 sigmoid units, 60 examples per mini-batch and 50,000 steps. Panel
# (a) shows the test accuracy over training, with and without BN. Panels
# (b) and (c) show the 15th, 50th and 85th percentiles of the input to a
# typical sigmoid of the last hidden layer, without and with BN.
#
# This example repeats that experiment at a small scale, on Fashion-MNIST
# instead of MNIST, for far fewer steps, and adds a direct measure of how
# far the inputs of every layer move. It describes these runs only. It
# does not test the reason for any difference between the two networks.
# The example `ics_noisy_bn` looks at that question.

# %%
import matplotlib.pyplot as plt
import torch

from snippets.experiments.ics import (
    first_step_reaching,
    sigmoid_inputs,
    sigmoid_mlp,
)
from snippets.support import data
from snippets.support.compare import Comparison, mean
from snippets.support.report import FAST, Report
from snippets.support.rules import HIGHER, LOWER, All, Greater, Paired
from snippets.support.training import accuracy, train

report = Report("ics_figure1")
x_train, y_train = data.load("fashion_mnist", train=True)
x_test, y_test = data.load("fashion_mnist", train=False)
STEPS = 150 if FAST else 3_000
EVERY = 30 if FAST else 150          # measure every EVERY steps
SEEDS = [0, 1] if FAST else [0, 1, 2]
BATCH, LR, HIDDEN = 60, 0.5, 100  # HIDDEN: sigmoid units per layer
x_watch = x_test[:1000]              # fixed images to watch the sigmoids

# %% [markdown]
# The settings have names, and the text below refers to them by name:
#
# - `STEPS` is the number of training steps of each run, and `EVERY` the
#   number of steps between two measurements. The fast build uses fewer
#   steps and seeds.
# - `SEEDS` lists the seeds. Each seed trains both networks once.
# - `BATCH` is the mini-batch size, `LR` the learning rate of plain SGD,
#   and `HIDDEN` the number of sigmoid units in each hidden layer. Compare
#   `BATCH` and `HIDDEN` with the paper's 60 examples per mini-batch and
#   100 units per layer.
# - `x_watch` is a fixed set of test images. At every measurement the
#   network is run on these same images, so that a change in the
#   sigmoids' inputs comes from training, not from other images.
#
# ## Training, and watching the sigmoids
#
# One seed sets the order of the mini-batches and the initial weights;
# both networks get the same seed, so they see the same batches and start
# from the same first-layer weights (the later layers differ: without
# their biases, BN's layers draw different numbers from the generator).
#
# `sigmoid_mlp(norm, hidden=HIDDEN)` builds the network: with `norm="bn"`
# each hidden `Linear` layer has no bias and is followed by a
# `BatchNorm1d`, then the sigmoid. `train` runs plain SGD on mini-batches
# of `BATCH` images and stops after `STEPS` steps; `epochs` is just
# large enough for that.
#
# After every step, `train` calls `watch`. Every `EVERY` steps, `watch`
# records:
#
# - the input of every sigmoid for `x_watch`, from `sigmoid_inputs`. It
#   runs the network in training mode, so that BatchNorm normalizes with
#   the statistics of these images, and it leaves the running statistics
#   and the random generators as they were, so that watching does not
#   change training;
# - the test accuracy, from `accuracy`, which switches the model to
#   evaluation mode; `model.train()` switches it back before training
#   goes on;
# - the 15th, 50th and 85th percentiles of the input of one sigmoid (unit
#   0) of the last hidden layer;
# - for every hidden layer, the mean and the standard deviation of each
#   sigmoid's input over `x_watch`.
#
# This cell shows nothing. It fills `history`, which the figures below
# read.

# %%
# --8<-- [start:run]
history = {}  # (norm, seed) -> what was measured every EVERY steps
for seed in SEEDS:
    for norm in ["none", "bn"]:
        torch.manual_seed(seed)
        model = sigmoid_mlp(norm, hidden=HIDDEN)
        record = {"step": [], "accuracy": [], "percentiles": [], "mean": [],
                  "std": []}

        def watch(step, model=model, record=record):
            if step % EVERY:
                return
            inputs = sigmoid_inputs(model, x_watch)  # in training mode
            record["step"].append(step)
            record["accuracy"].append(accuracy(model, x_test, y_test))
            model.train()  # accuracy() switched to eval mode
            last = inputs[-1][:, 0]  # one sigmoid of the last hidden layer
            record["percentiles"].append(torch.quantile(
                last, torch.tensor([0.15, 0.5, 0.85])).tolist())
            record["mean"].append([h.mean(0) for h in inputs])  # per layer
            record["std"].append([h.std(0) for h in inputs])

        epochs = -(-STEPS * BATCH // len(x_train))
        train(model, x_train, y_train, epochs=epochs, batch_size=BATCH,
              optimizer=torch.optim.SGD(model.parameters(), lr=LR),
              seed=seed, max_steps=STEPS, callback=watch,
              label=f"{norm}, seed {seed}")
        history[norm, seed] = record
# --8<-- [end:run]

# %% [markdown]
# ## Panel (a): test accuracy
#
# One line per run: blue for the network without BN, orange for the
# network with BN, one line for each seed. Look first at the start: which
# colour rises earlier? Then look at the end: which colour ends higher,
# and is the gap still changing? Last, compare the lines of one colour
# with each other. If they are close, the seed matters little next to the
# difference between the colours. The paper's panel (a) draws the same two
# curves for MNIST, over many more steps.

# %%
labels = {"none": "without BN", "bn": "with BN"}
fig, ax = plt.subplots()
for i, norm in enumerate(labels):
    for seed in SEEDS:
        record = history[norm, seed]
        ax.plot(record["step"], record["accuracy"], color=f"C{i}",
                alpha=0.8, linewidth=1,
                label=labels[norm] if seed == SEEDS[0] else None)
ax.set_xlabel(f"training step (mini-batches of {BATCH})")
ax.set_ylabel("test accuracy")
ax.set_title(f"(a) Test accuracy, {len(SEEDS)} seeds each", fontsize=10)
ax.legend()
report.figure(fig, "accuracy")

# %% [markdown]
# ## Panels (b) and (c): one sigmoid's input
#
# Panels (b) and (c) follow one run (the first seed): the 15th and 85th
# percentiles dashed and dotted, the median solid.
#
# The three lines describe the input of one sigmoid of the last hidden
# layer over the images of `x_watch`: between the dashed and the dotted
# line lie the middle 70% of the inputs. Compare the two panels. How much
# do the lines move over training, and how far from 0 do they go? A
# sigmoid is nearly flat far from 0, so inputs that drift there give
# small gradients.
#
# With BN, in training mode, the mean and the standard deviation of these
# inputs are set by the unit's `bias` (beta) and `weight` (gamma), as the
# next section explains. The shape of the distribution can still change.
# So if the lines with BN are steadier, part of the reason is how BN is
# built.

# %%
fig, axes = plt.subplots(1, 2, figsize=(7.2, 3.0), sharey=True)
for ax, norm in zip(axes, labels):
    record = history[norm, SEEDS[0]]
    p = torch.tensor(record["percentiles"])
    for k, (name, style) in enumerate([("15th", "--"), ("50th", "-"),
                                       ("85th", ":")]):
        ax.plot(record["step"], p[:, k], style, color="C0",
                label=f"{name} percentile")
    ax.set_title(f"({'b' if norm == 'none' else 'c'}) {labels[norm]}, "
                 f"seed {SEEDS[0]}", fontsize=10)
    ax.set_xlabel("training step")
axes[0].set_ylabel("input of one last-layer sigmoid")
axes[1].legend(fontsize=8)
report.figure(fig, "percentiles")

# %% [markdown]
# ## How far the distributions move
#
# For each hidden layer, the change of each sigmoid's input mean and
# standard deviation (over the watched images, in training mode) between
# two measurements, averaged over the `HIDDEN` units. With BatchNorm in
# training mode, that mean is the layer's `bias`, and that standard
# deviation is |`weight`| (up to eps and the n - 1 of an unbiased
# estimate). So for that network, the measure follows how fast those two
# parameters are trained.
#
# `shift(record, layer)` computes this measure for one run and one hidden
# layer. Between two measurements, it takes for each unit the absolute
# change of the mean plus the absolute change of the standard deviation,
# and averages over the units. It returns one number for each pair of
# consecutive measurements.

# %%
# --8<-- [start:shift]
def shift(record, layer):
    """Average |change of mean| + |change of std| between measurements."""
    out = []
    for t in range(1, len(record["step"])):
        d_mean = record["mean"][t][layer] - record["mean"][t - 1][layer]
        d_std = record["std"][t][layer] - record["std"][t - 1][layer]
        out.append((d_mean.abs() + d_std.abs()).mean().item())
    return out
# --8<-- [end:shift]


# %% [markdown]
# The figure has one panel per hidden layer, with the measure on a log
# scale and one line per run, coloured as in panel (a). Look at whether
# one colour lies below the other in every panel, for every seed, and
# whether the gap changes over training. Keep the caveat above in mind:
# for the network with BN, the lines show how fast beta and gamma change,
# while for the network without BN they show the effect of the layer's
# own weights and of every layer below.

# %%
fig, axes = plt.subplots(1, 3, figsize=(7.2, 2.8), sharey=True)
for layer, ax in enumerate(axes):
    for i, norm in enumerate(labels):
        for seed in SEEDS:
            record = history[norm, seed]
            ax.plot(record["step"][1:], shift(record, layer), color=f"C{i}",
                    alpha=0.8, linewidth=1,
                    label=labels[norm] if seed == SEEDS[0] else None)
    ax.set_yscale("log")
    ax.set_title(f"hidden layer {layer + 1}", fontsize=10)
    ax.set_xlabel("training step")
axes[0].set_ylabel(f"input shift per {EVERY} steps")
axes[2].legend(fontsize=8)
report.figure(fig, "shift")

# %% [markdown]
# ## Results over the seeds
#
# A run's final accuracy is the mean of its last `LAST` measurements,
# less noisy than any one of them. The target accuracy is `TARGET_SHARE`
# times the mean final accuracy without BN. Each comparison pairs the two
# networks seed by seed (one seed gives both the same batches and
# first-layer weights).
#
# The code reduces each run to a few numbers, one per seed (`per_seed`):
#
# - `final`: the final accuracy;
# - `reach`: the first measured step at which the test accuracy reached
#   `target` (a run that never reaches it counts as `STEPS + EVERY`);
# - `layer_shift`: the mean of the measure `shift` over training, for
#   each hidden layer, and `all_shift`, its mean over the layers.
#
# `reach` is only known to within `EVERY` steps, since accuracy is only
# measured every `EVERY` steps.

# %%
def per_seed(norm, metric):
    return [metric(history[norm, seed]) for seed in SEEDS]


LAST, TARGET_SHARE = 5, 0.95  # final accuracy: mean of the last 5 measured
final = {n: per_seed(n, lambda r: mean(r["accuracy"][-LAST:]))
         for n in labels}
target = TARGET_SHARE * mean(final["none"])
# A run that never reaches the target counts as one measurement past the
# last (STEPS + EVERY): later than every run that does, tied with any other
# that does not.
reach = {n: per_seed(n, lambda r: first_step_reaching(r, target,
                                                     STEPS + EVERY))
         for n in labels}
layer_shift = {(n, layer): per_seed(n, lambda r, layer=layer:
                                    mean(shift(r, layer)))
               for n in labels for layer in range(3)}
all_shift = {n: [mean(v) for v in zip(*(layer_shift[n, layer]
                                       for layer in range(3)))]
             for n in labels}

# %% [markdown]
# The table shows these numbers for each network, one value per seed,
# in the order of `SEEDS`. Read each column across the two rows, seed by
# seed: the same position in both rows belongs to the same seed, so to
# the same batches. The column headers give the number of steps and the
# target.

# %%
report.table("results", [
    "Network", f"Final test accuracy ({STEPS:,} steps)",
    f"First measured step at {target:.1%}", "Mean input shift (all layers)"],
    [[labels[n], ", ".join(f"{a:.2%}" for a in final[n]),
      ", ".join(f"{s:,}" for s in reach[n]),
      ", ".join(f"{s:.3f}" for s in all_shift[n])] for n in labels])

# %% [markdown]
# Last, each measure is compared seed by seed with `Comparison`, the
# network with BN against the one without. Each printed line gives a
# verdict and then the mean difference (with BN minus without), its range
# over the seeds, and on how many seeds it went which way.
#
# - The verdict is "better" or "worse" when the difference goes the same
#   way on every seed, "tied" when some seeds show no difference and the
#   rest go one way, and "within seed-to-seed noise" when the seeds
#   disagree. For the shift, where neither direction is better, it says
#   "higher" or "lower".
# - For the steps to the target, fewer steps count as better.
#
# These lines describe these seeds only. With few seeds, all of them can
# agree by chance even if the two networks were alike. That is why the
# site says on how many seeds a difference went which way, and by how
# much, and does not call a difference real.

# %%
speed = Comparison(reach["bn"], reach["none"], higher_is_better=False)
end = Comparison(final["bn"], final["none"])
steadier = [Comparison(layer_shift["bn", layer], layer_shift["none", layer],
                       higher_is_better=None) for layer in range(3)]
print("steps to target:", speed.verdict, speed.describe(" steps"))
print("final accuracy:", end.verdict, end.describe())
for layer, c in enumerate(steadier):
    print(f"shift, layer {layer + 1}:", c.verdict, c.describe())

# %% [markdown]
# ## For the site: values and claims
#
# The site's pages quote these numbers, and each claim is a rule that the
# build checks against this run. A reader can skip this section.
#
# First, panels (b) and (c) in numbers: how far the three percentiles
# travel over training in the run shown, and where the median with BN
# starts and ends. The claim `bn_percentiles_travel_less` asks that, in
# that run, the percentiles travel farther without BN than with BN.

# %%
# Panels (b) and (c): how far the three percentiles travel, summed over
# the measurements, in the run shown (the first seed).
def travel(record):
    p = torch.tensor(record["percentiles"])
    return (p[1:] - p[:-1]).abs().sum().item()


shown = {n: history[n, SEEDS[0]] for n in labels}
median_bn = [p[1] for p in shown["bn"]["percentiles"]]
report.values(
    travel_bn=f"{travel(shown['bn']):.1f}",
    travel_plain=f"{travel(shown['none']):.1f}",
    median_bn_first=f"{median_bn[0]:.2f}",
    median_bn_last=f"{median_bn[-1]:.2f}",
    first_measured=EVERY)
report.claim("bn_percentiles_travel_less", Greater(
    f"distance the percentiles travelled without BN (seed {SEEDS[0]})",
    travel(shown["none"]), "with BN", travel(shown["bn"])))

# %% [markdown]
# The settings and the summary of every seed, as the site's page quotes
# them. `saved` is, seed by seed, how many steps sooner the network with
# BN reached the target (negative if it was later).

# %%
saved = [p - b for p, b in zip(reach["none"], reach["bn"])]  # steps, by seed
report.values(
    last=LAST, units=HIDDEN, target_share=f"{100 * TARGET_SHARE:.0f}%",
    steps=f"{STEPS:,}", every=EVERY, lr=LR, batch=BATCH, seeds=len(SEEDS),
    watched=len(x_watch),
    paper_ratio=f"{50_000 / STEPS:.0f}", target=f"{target:.1%}",
    reach_bn=f"{mean(reach['bn']):,.0f}",
    reach_plain=f"{mean(reach['none']):,.0f}",
    reach_saved_low=f"{min(saved):,}", reach_saved_high=f"{max(saved):,}",
    acc_bn=f"{mean(final['bn']):.2%}", acc_plain=f"{mean(final['none']):.2%}",
    acc_gap_low=f"{100 * end.paired[0]:+.2f}",
    acc_gap_high=f"{100 * end.paired[1]:+.2f}",
    shift_bn=f"{mean(all_shift['bn']):.3f}",
    shift_plain=f"{mean(all_shift['none']):.3f}")

# %% [markdown]
# The claims compare the two networks seed by seed, with the paired rule
# `Paired`: each holds only if the difference goes the expected way on
# every seed. `bn_reaches_target_first` asks that the network with BN
# reaches the target at an earlier step. `bn_ends_more_accurate` asks for
# a higher final accuracy with BN. `bn_sigmoid_inputs_shift_less` asks
# for a lower mean input shift with BN, in each hidden layer.

# %%
def bn_against_plain(measure, values, expect, network="the network", **how):
    """The network with BN against the one without, seed by seed."""
    return Paired(measure, f"{network} with BN", values["bn"], "without",
                  values["none"], expect, **how)


# Asks for more than "lower on every seed": the latest seed with BN must
# reach the target before the earliest seed without.
report.claim("bn_reaches_target_first", All([
    bn_against_plain("first measured step at the target", reach, LOWER,
                     floor=EVERY),
    Greater("earliest seed without BN (step)", min(reach["none"]),
            "latest seed with BN (step)", max(reach["bn"]))]))
report.claim("bn_ends_more_accurate", bn_against_plain(
    "final test accuracy", final, HIGHER, scale=100, unit=" points"))
report.claim("bn_sigmoid_inputs_shift_less", All([
    bn_against_plain("mean input shift",
                     {n: layer_shift[n, layer] for n in labels}, LOWER,
                     network=f"hidden layer {layer + 1}")
    for layer in range(3)]))
