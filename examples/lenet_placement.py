# %% [markdown]
# # Where BatchNorm goes: which layers, before or after the activation
#
# LeNet with BatchNorm after every hidden layer and before the sigmoid (as
# in the paper and the d2l book), against BatchNorm after the sigmoid,
# and against BatchNorm in the convolutional or the linear layers only.
# Each variant is trained with the same few seeds (printed below), so that
# no comparison rests on one run; a seed fixes the initial weights and the
# batches.

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

# %%
fig = seed_figure(results, f"LeNet, {NUM_TRAIN:,} images, {STEPS} steps, "
                  f"lr {LR}")
report.figure(fig, "placement")
reference = "every layer, before sigmoid"
for metric, table in [("test accuracy", "accuracy"),
                      ("last-epoch loss", "loss")]:
    rows = comparison_table(report, table, results, reference, metric,
                            "BatchNorm")
    for row in rows:
        print(row)

# %% [markdown]
# ## Verdicts the page states
#
# A variant is better or worse than the reference when the per-seed
# difference has the same sign on every seed, within seed-to-seed noise
# when the seeds disagree in sign, and tied when some seeds differ one way
# and the rest not at all (`snippets/support/compare.py`).

# %%
accuracy = {n: measured(results, n, "test accuracy") for n in variants}
loss = {n: measured(results, n, "last-epoch loss") for n in variants}
after, linear = "every layer, after sigmoid", "linear layers only"
# Shorter names for the claims page (the tables call it "reference").
label = {reference: "the reference", after: "BatchNorm after sigmoid"}
# The page says more than "lower on every seed": every run of each
# partial placement is below every run of the reference.
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
# One seed alone could have ranked the two placements either way: the
# per-seed differences have both signs.
report.claim("one_seed_ranks_either_way",
             Paired("test accuracy", label[after], accuracy[after],
                    label[reference], accuracy[reference], MIXED,
                    scale=100, unit=" points"))
# Higher on every seed, though the runs overlap: the highest loss of the
# reference is above the lowest of linear layers only.
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
