# %% [markdown]
# # Where BatchNorm goes: which layers, before or after the activation
#
# LeNet with BatchNorm after every hidden layer and before the sigmoid (as
# in the paper and the d2l book), against BatchNorm after the sigmoid, and
# against BatchNorm in the convolutional or the linear layers only. Three
# seeds each, because single runs this short are noisy.

# %%
from functools import partial

from snippets.experiments.lenet import (compared_with, fashion_mnist, lenet,
                                        repeat, seed_figure, seed_rows)
from snippets.support.report import FAST, Report

report = Report("lenet_placement")
LR, EPOCHS, BATCH_SIZE = 1.0, 2, 256
NUM_TRAIN = 8 * BATCH_SIZE if FAST else 78 * BATCH_SIZE  # full batches
SEEDS = [0, 1] if FAST else [0, 1, 2]
STEPS = EPOCHS * NUM_TRAIN // BATCH_SIZE
dataset = fashion_mnist(NUM_TRAIN, 1000 if FAST else None)

# %%
# --8<-- [start:variants]
variants = {
    "every layer, before sigmoid": lenet,
    "every layer, after sigmoid": partial(lenet, after_activation=True),
    "conv layers only": partial(lenet, normalize=(0, 1)),
    "linear layers only": partial(lenet, normalize=(2, 3)),
    "first conv layer only": partial(lenet, normalize=(0,)),
}
# Test accuracy once, at the end: the comparison needs no curves.
results = repeat(variants, dataset, seeds=SEEDS, lr=LR, epochs=EPOCHS,
                 batch_size=BATCH_SIZE, evaluate_every=STEPS)
# --8<-- [end:variants]

# %%
fig = seed_figure(results, f"LeNet, {NUM_TRAIN:,} images, {EPOCHS} epochs, "
                  f"lr {LR}")
report.figure(fig, "placement")
rows = seed_rows(results)
report.table("placement", ["BatchNorm", f"Test accuracy, {len(SEEDS)} seeds",
                           "Last-epoch training loss"], rows)
for row in rows:
    print(row)

# %%
reference = "every layer, before sigmoid"
# Short words ("worse on every seed"): the page names the reference.
by_accuracy = compared_with(results, reference, label="")
by_loss = compared_with(results, reference, "last-epoch loss", label="")
partial_names = ["conv layers only", "linear layers only",
                 "first conv layer only"]
all_worse = all(by_accuracy[n].startswith("worse") for n in partial_names)
report.values(
    partial=("normalizing only some layers did worse than normalizing all "
             "of them, on every seed" if all_worse else
             "normalizing only some layers was not always worse than "
             "normalizing all of them"),
    num_train=f"{NUM_TRAIN:,}", epochs=EPOCHS, lr=f"{LR}", seeds=len(SEEDS),
    steps=STEPS,
    **{f"{key}_acc": by_accuracy[name] for key, name in [
        ("after", "every layer, after sigmoid"),
        ("conv", "conv layers only"), ("linear", "linear layers only"),
        ("first", "first conv layer only")]},
    **{f"{key}_loss": by_loss[name] for key, name in [
        ("after", "every layer, after sigmoid"),
        ("conv", "conv layers only"), ("linear", "linear layers only"),
        ("first", "first conv layer only")]},
)
