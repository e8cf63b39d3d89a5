# %% [markdown]
# # BatchNorm instead of dropout, and together
#
# Dropout fights overfitting; BatchNorm mostly speeds up training, with
# some regularization from its noisy batch statistics. To see both, LeNet
# is trained for many epochs on a small training set (512 images), with
# neither, with dropout (p = 0.5 after each hidden linear layer), with
# BatchNorm, and with both, three seeds each.

# %%
from functools import partial

from snippets.experiments.lenet import (compared_with, fashion_mnist, lenet,
                                        measured, repeat, seed_figure,
                                        seed_rows, spread)
from snippets.experiments.models import no_norm
from snippets.support.report import FAST, Report

report = Report("lenet_dropout")
LR, BATCH_SIZE, P = 1.0, 256, 0.5
# Few images, many epochs: a set-up in which LeNet memorizes its training
# set within the build's budget, so that a regularizer has work to do.
EPOCHS = 4 if FAST else 80
NUM_TRAIN = 2 * BATCH_SIZE  # full batches
SEEDS = [0, 1] if FAST else [0, 1, 2]
STEPS = EPOCHS * NUM_TRAIN // BATCH_SIZE
dataset = fashion_mnist(NUM_TRAIN, 1000 if FAST else None)

# %%
# --8<-- [start:variants]
variants = {
    "neither": partial(lenet, no_norm, no_norm),
    f"dropout {P}": partial(lenet, no_norm, no_norm, dropout=P),
    "BatchNorm": lenet,
    f"BatchNorm + dropout {P}": partial(lenet, dropout=P),
}
# Test accuracy once, at the end: the comparison needs no curves.
results = repeat(variants, dataset, seeds=SEEDS, lr=LR, epochs=EPOCHS,
                 batch_size=BATCH_SIZE, evaluate_every=STEPS,
                 train_accuracy=True)
# --8<-- [end:variants]

# %%
metrics = ("train accuracy", "test accuracy", "train-test gap")
fig = seed_figure(results, f"LeNet, {NUM_TRAIN:,} images, {EPOCHS} epochs, "
                  f"lr {LR}", metrics[:2])
report.figure(fig, "dropout")
rows = seed_rows(results, metrics)
report.table("dropout", ["Model", "Train accuracy", "Test accuracy",
                         "Train-test gap"], rows)
for row in rows:
    print(row)

# %%
bn, both, drop = "BatchNorm", f"BatchNorm + dropout {P}", f"dropout {P}"
by_accuracy = compared_with(results, bn, label="BatchNorm alone")
gap_verdict = compared_with(results, bn, "train-test gap", label="",
                            words=("smaller", "larger"))[both]
drop_mean = spread(measured(results, drop, "test accuracy"))[0]
stuck = drop_mean <= 0.2  # not even twice chance (10 classes)
if stuck and gap_verdict.startswith("smaller"):
    jobs = ("here the two did different jobs: dropout narrowed the gap "
            "that BatchNorm left, and without BatchNorm it could not get "
            "the network to train at all")
else:
    jobs = "the table shows what each of the two changed here"


def mean_of(name, metric):
    return f"{spread(measured(results, name, metric))[0]:.1%}"


report.values(
    num_train=f"{NUM_TRAIN:,}", epochs=EPOCHS, lr=f"{LR}", p=P,
    seeds=len(SEEDS), steps=STEPS,
    dropout_acc=by_accuracy[drop], both_acc=by_accuracy[both],
    neither_acc=by_accuracy["neither"],
    bn_gap=mean_of(bn, "train-test gap"),
    both_gap=mean_of(both, "train-test gap"),
    gap_verdict=gap_verdict, jobs=jobs,
    both_train=mean_of(both, "train accuracy"),
    bn_train=mean_of(bn, "train accuracy"),
    dropout_alone=("dropout alone left the network at chance level" if stuck
                   else "dropout alone trained")
    + f" (mean test accuracy {drop_mean:.1%})",
)
