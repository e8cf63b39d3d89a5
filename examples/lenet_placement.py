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
from snippets.support.report import FAST, Report

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
# Each is decided by `snippets/support/compare.py`: better or worse only
# when every seed of one variant beats every seed of the other.

# %%
def verdict(name, metric):
    return compare(results, name, reference, metric).verdict


partial_names = ["conv layers only", "linear layers only"]
accuracy = {n: compare(results, n, reference, "test accuracy")
            for n in variants if n != reference}
report.claim("partial_layers_worse", all(
    verdict(n, "test accuracy") == "worse" for n in partial_names), {
        f"{n}, difference in test accuracy (points)":
            100 * accuracy[n].effect for n in partial_names})
after, linear = "every layer, after sigmoid", "linear layers only"
loss = {n: compare(results, n, reference, "last-epoch loss")
        for n in variants if n != reference}
report.claim("after_sigmoid_not_ranked", all(
    verdict(after, m) == "within seed-to-seed noise"
    for m in ("test accuracy", "last-epoch loss")), {
        "difference in test accuracy (points)": 100 * accuracy[after].effect,
        "difference in last-epoch loss": loss[after].effect})
# One seed alone could have ranked the two placements either way.
low, high = accuracy[after].paired
report.claim("one_seed_ranks_either_way", low < 0 < high, {
    "after minus before sigmoid, test accuracy, lowest seed (points)":
        100 * low, "highest seed (points)": 100 * high})
# Higher on every seed, and still not ranked: the runs overlap.
report.claim("linear_loss_higher_each_seed_but_overlapping",
             loss[linear].paired[0] > 0
             and verdict(linear, "last-epoch loss")
             == "within seed-to-seed noise", {
                 "per-seed difference in last-epoch loss, lowest":
                     loss[linear].paired[0],
                 "highest": loss[linear].paired[1],
                 "highest loss of linear layers only":
                     max(measured(results, linear, "last-epoch loss")),
                 "highest of the reference":
                     max(measured(results, reference, "last-epoch loss"))})
extra = sum(p.numel() for p in variants[after]().parameters()) - sum(
    p.numel() for p in lenet().parameters())
report.values(
    num_train=f"{NUM_TRAIN:,}", epochs=EPOCHS, lr=f"{LR}", seeds=len(SEEDS),
    steps=STEPS, num_test=f"{len(dataset[2]):,}",
    evaluated_at=", ".join(str(s) for s in EVALUATE_AT),
    after_low=f"{100 * low:+.1f}", after_high=f"{100 * high:+.1f}",
    linear_loss_low=f"{loss[linear].paired[0]:+.3f}",
    linear_loss_high=f"{loss[linear].paired[1]:+.3f}",
    after_extra=extra,
    conv_effect=f"{100 * accuracy['conv layers only'].effect:.1f}",
    linear_effect=f"{100 * accuracy[linear].effect:.1f}",
)
