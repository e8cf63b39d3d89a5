# %% [markdown]
# # Where BatchNorm goes: which layers, before or after the activation
#
# LeNet with BatchNorm after every hidden layer and before the sigmoid (as
# in the paper and the d2l book), against BatchNorm after the sigmoid,
# and against BatchNorm in the convolutional or the linear layers only.
# Each variant is trained with the same few seeds (printed below), so that
# no comparison rests on one run; a seed fixes the initial weights and the
# batches.
#
# Why this matters for Batch Normalization: the paper puts BatchNorm
# before the nonlinearity, and practice varies. Networks also differ in
# which layers get BatchNorm. This example measures, on one small network,
# what changes when you move the layer after the activation or leave it
# out of some layers. It also checks whether one seed would be enough to
# rank two placements.

# %%
from functools import partial

from snippets.experiments.lenet import (
    compare,
    comparison_table,
    fashion_mnist,
    final_stretch,
    lenet,
    measured,
    repeat,
    seed_figure,
)
from snippets.support.compare import same_sign_chance
from snippets.support.report import FAST, Report
from snippets.support.rules import HIGHER, LOWER, MIXED, All, Greater, Paired

# %% [markdown]
# ## The settings
#
# Every variant is LeNet as in the d2l book (sigmoid activations, average
# pooling), trained with SGD at learning rate `LR` for `EPOCHS` epochs of
# mini-batches of `BATCH_SIZE`. `NUM_TRAIN` is a whole number of batches,
# so every step sees a full batch. The fast build (`FAST`) trains on fewer
# images and seeds.
#
# A test accuracy measured once, at the last step, can depend on that one
# step. `final_stretch` picks evaluation steps spread over the last
# epoch, and the test accuracy of a run is the mean of those evaluations.
# The printed line gives the seeds, the number of steps, the evaluation
# steps and the size of the test set.

# %%
report = Report("lenet_placement")
LR, EPOCHS, BATCH_SIZE = 1.0, 2, 256
NUM_TRAIN = 4 * BATCH_SIZE if FAST else 39 * BATCH_SIZE  # full batches
SEEDS = [0, 1] if FAST else [0, 1, 2]
STEPS_PER_EPOCH = NUM_TRAIN // BATCH_SIZE
STEPS = EPOCHS * STEPS_PER_EPOCH
# Test accuracy: the mean of three evaluations spread over the last epoch.
EVALUATE_AT = final_stretch(STEPS, STEPS_PER_EPOCH)
dataset = fashion_mnist(NUM_TRAIN, 500 if FAST else 2000)
print(f"seeds {SEEDS}; {STEPS} steps; test accuracy after steps "
      f"{EVALUATE_AT} on {len(dataset[2]):,} test images")

# %% [markdown]
# ## The placements
#
# `lenet` (in `snippets/experiments/lenet.py`) builds every variant. Its
# hidden layers are numbered 0 and 1 (the two convolutions) and 2 and 3
# (the two hidden linear layers). `normalize` lists the layers that get
# BatchNorm, and `after_activation=True` puts BatchNorm after the sigmoid
# instead of before it.
#
# By default, a layer followed by BatchNorm has no bias, and a layer
# without BatchNorm keeps its bias. Before the activation, BatchNorm
# subtracts the mean, so such a bias would have no effect. After the
# activation, that is no longer true, so in that variant `lenet` keeps
# the biases. That variant therefore has more parameters.
#
# `repeat` trains every variant once per seed. One seed gives every
# variant the same batches and the same initial weights of the
# convolutional and linear layers.

# %%
# --8<-- [start:variants]
variants = {
    "every layer, before sigmoid": lenet,
    "every layer, after sigmoid": partial(lenet, after_activation=True),
    "conv layers only": partial(lenet, normalize=(0, 1)),
    "linear layers only": partial(lenet, normalize=(2, 3)),
}
results = repeat(variants, dataset, seeds=SEEDS, lr=LR, epochs=EPOCHS,
                 batch_size=BATCH_SIZE, evaluate_at=EVALUATE_AT)
# --8<-- [end:variants]

# %% [markdown]
# ## Every run, seed by seed
#
# The figure has two panels: test accuracy on the left, the training loss
# over the last epoch on the right. Each row is one placement. Each
# marker is one run, and the same marker shape is the same seed in every
# row. The short bar is the mean over the seeds.
#
# Follow one marker shape from row to row: that is one seed, with the
# same batches and initial weights in every row. Then compare the spread
# of the markers within a row with the distance between rows. Where the
# spread is larger, a single seed could rank two placements either way.

# %%
fig = seed_figure(results, f"LeNet, {NUM_TRAIN:,} images, {STEPS} steps, "
                  f"lr {LR}")
report.figure(fig, "placement")

# %% [markdown]
# The two tables give the same runs as numbers, one table per metric.
# The reference is BatchNorm in every hidden layer, before the sigmoid,
# where the paper puts it. Each row compares a placement with the
# reference, seed by seed: the difference column gives the mean of the
# per-seed differences and their range.
#
# A variant is better or worse than the reference when the per-seed
# difference has the same sign on every seed. It is within seed-to-seed
# noise when the seeds disagree in sign. It is tied when some seeds differ
# one way and the rest not at all (`snippets/support/compare.py`).
#
# Look at the range of each difference before its mean. A range that
# includes zero means the seeds disagree. Also compare the two tables: a
# placement can be ranked on one metric and not on the other. With a few
# seeds, a verdict describes these runs only; it is not a rule for other
# networks.

# %%
reference = "every layer, before sigmoid"
for metric, table in [("test accuracy", "accuracy"),
                      ("last-epoch loss", "loss")]:
    comparison_table(report, table, results, reference, metric,
                     "BatchNorm")

# %% [markdown]
# ## For the site: values and claims
#
# The site's pages quote these numbers, and each claim is a rule that the
# build checks against this run. A reader can skip this section.
#
# The claims use the same seed-by-seed comparison as the tables, with the
# rule `Paired`: `LOWER` and `HIGHER` ask for one sign on every seed, and
# `MIXED` asks that the seeds disagree in sign. Some claims add a
# `Greater` rule, which compares the lowest run of one variant with the
# highest run of another. The comments in the cell say what each claim
# adds.

# %%
accuracy = {n: measured(results, n, "test accuracy") for n in variants}
loss = {n: measured(results, n, "last-epoch loss") for n in variants}
after, linear = "every layer, after sigmoid", "linear layers only"
# Shorter names for the claims page (the tables call it "reference").
label = {reference: "the reference", after: "BatchNorm after sigmoid"}
# Asks for more than "lower on every seed": every run of each partial
# placement must be below every run of the reference.
partial_names = ["conv layers only", "linear layers only"]
report.claim("partial_layers_worse", All([
    rule for n in partial_names for rule in (
        Paired("test accuracy", n, accuracy[n], label[reference],
               accuracy[reference], LOWER, scale=100, unit=" points"),
        Greater(f"lowest test accuracy, {label[reference]} (%)",
                100 * min(accuracy[reference]),
                f"highest, {n} (%)", 100 * max(accuracy[n])))]))
report.claim("after_sigmoid_not_ranked", All([
    Paired("test accuracy", label[after], accuracy[after],
           label[reference], accuracy[reference], MIXED, scale=100,
           unit=" points"),
    Paired("last-epoch loss", label[after], loss[after], label[reference],
           loss[reference], MIXED)]))
# Asks that the per-seed differences have both signs: then one seed
# alone could have ranked the two placements either way.
report.claim("one_seed_ranks_either_way",
             Paired("test accuracy", label[after], accuracy[after],
                    label[reference], accuracy[reference], MIXED,
                    scale=100, unit=" points"))
# Asks for a higher loss on every seed, and for runs that overlap: the
# highest loss of the reference above the lowest of linear layers only.
report.claim("linear_loss_higher_each_seed_but_overlapping", All([
    Paired("last-epoch loss", linear, loss[linear], label[reference],
           loss[reference], HIGHER),
    Greater(f"highest last-epoch loss, {label[reference]}",
            max(loss[reference]),
            f"lowest, {linear}", min(loss[linear]))]))
# The numbers the page quotes: per-seed ranges and differences of means.
low, high = compare(results, after, reference, "test accuracy").paired
linear_loss = compare(results, linear, reference, "last-epoch loss").paired
effect = {n: compare(results, n, reference, "test accuracy").effect
          for n in partial_names}
extra = sum(p.numel() for p in variants[after]().parameters()) - sum(
    p.numel() for p in lenet().parameters())
report.values(
    num_train=f"{NUM_TRAIN:,}", epochs=EPOCHS, lr=f"{LR}", seeds=len(SEEDS),
    steps=STEPS, num_test=f"{len(dataset[2]):,}",
    evaluations=len(EVALUATE_AT), placements=len(variants),
    same_sign_chance=f"{same_sign_chance(len(SEEDS)):.2g}",
    evaluated_at=", ".join(str(s) for s in EVALUATE_AT),
    after_low=f"{100 * low:+.1f}", after_high=f"{100 * high:+.1f}",
    linear_loss_low=f"{linear_loss[0]:+.3f}",
    linear_loss_high=f"{linear_loss[1]:+.3f}",
    after_extra=extra,
    conv_effect=f"{100 * effect['conv layers only']:.1f}",
    linear_effect=f"{100 * effect[linear]:.1f}",
)
