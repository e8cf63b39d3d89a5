# %% [markdown]
# # Dropout on top of BatchNorm
#
# Dropout is a regularizer; BatchNorm mainly changes how a network trains,
# with some regularization from its noisy batch statistics (Ioffe and
# Szegedy 2015, sections 3.4 and 4.2.1). To give a regularizer something
# to do,
# LeNet with BatchNorm is trained for many epochs on a small training set
# (512 images), with and without dropout (p = 0.5 after each hidden linear
# layer's activation), with the same few seeds (printed below). Train and
# test accuracy are measured in eval mode, three times near the end.
#
# Dropout without BatchNorm is left out; the experiments page says why.

# %%
from functools import partial

from snippets.experiments.lenet import (
    compare,
    effect_text,
    fashion_mnist,
    final_stretch,
    lenet,
    measured,
    repeat,
    seed_figure,
    spread_text,
)
from snippets.support.report import FAST, Report
from snippets.support.rules import (
    HIGHER,
    LOWER,
    Above,
    All,
    Greater,
    Paired,
)

report = Report("lenet_dropout")
LR, BATCH_SIZE, P = 1.0, 256, 0.5
# Few images, many epochs: a set-up meant to make LeNet overfit (a claim
# below checks that it does).
EPOCHS = 4 if FAST else 80
NUM_TRAIN = 2 * BATCH_SIZE  # full batches
SEEDS = [0, 1] if FAST else [0, 1, 2]
STEPS = EPOCHS * NUM_TRAIN // BATCH_SIZE
EVALUATE_AT = final_stretch(STEPS, STEPS // 6)  # the last sixth
dataset = fashion_mnist(NUM_TRAIN, 500 if FAST else 2000)
print(f"seeds {SEEDS}; {STEPS} steps; accuracy after steps {EVALUATE_AT} "
      f"on the {NUM_TRAIN} training and {len(dataset[2]):,} test images")

# %%
# --8<-- [start:variants]
variants = {
    "BatchNorm": lenet,
    f"BatchNorm + dropout {P}": partial(lenet, dropout=P),
}
results = repeat(variants, dataset, seeds=SEEDS, lr=LR, epochs=EPOCHS,
                 batch_size=BATCH_SIZE, evaluate_at=EVALUATE_AT,
                 train_accuracy=True)
# --8<-- [end:variants]

# %%
metrics = ("train accuracy", "test accuracy", "train-test gap")
fig = seed_figure(results, f"LeNet, {NUM_TRAIN:,} images, {STEPS} steps, "
                  f"lr {LR}", metrics)
report.figure(fig, "dropout")
bn, both = variants
comparisons = {m: compare(results, both, bn, m) for m in metrics}
rows = [[m.capitalize(), spread_text(measured(results, bn, m), m),
         spread_text(measured(results, both, m), m),
         effect_text(comparisons[m], m), comparisons[m].verdict]
        for m in metrics]
report.table("dropout", ["Metric (mean over seeds, lowest to highest)",
                         bn, both, "Difference", "Verdict"], rows)
for row in rows:
    print(row)

# %% [markdown]
# ## Verdicts the page states
#
# Whether BatchNorm alone overfits (train accuracy above test accuracy on
# every seed), and what adding dropout changed. Dropout's effect is judged
# seed by seed, as `snippets/support/compare.py` states: a difference is
# ranked only when it has the same sign on every seed.

# %%
OVERFITS = 0.05  # train above test by at least 5 points
train = {name: measured(results, name, "train accuracy") for name in variants}
test = {name: measured(results, name, "test accuracy") for name in variants}
gaps = {name: measured(results, name, "train-test gap") for name in variants}
report.claim("bn_overfits", All([
    Paired("accuracy", f"{bn} on training images", train[bn],
           "on test images", test[bn], HIGHER, scale=100, unit=" points"),
    Above(f"smallest train-test gap over seeds, {bn} (points)",
          100 * min(gaps[bn]), 100 * OVERFITS)]))
# The page says more than "lower on every seed": every run with dropout
# has a smaller gap than every run without.
report.claim("dropout_narrows_gap", All([
    Paired("train-test gap", both, gaps[both], bn, gaps[bn], LOWER,
           scale=100, unit=" points"),
    Greater(f"smallest gap, {bn} (points)", 100 * min(gaps[bn]),
            f"largest gap, {both} (points)", 100 * max(gaps[both]))]))
report.claim("dropout_test_lower",
             Paired("test accuracy", both, test[both], bn, test[bn], LOWER,
                    scale=100, unit=" points"))
report.claim("dropout_train_lower",
             Paired("train accuracy", both, train[both], bn, train[bn],
                    LOWER, scale=100, unit=" points"))


def drops(accuracy):
    """How far below BatchNorm alone each seed with dropout ended, in
    points: the lowest and the highest."""
    points = [100 * (a - b) for a, b in zip(accuracy[bn], accuracy[both])]
    return f"{min(points):.1f}", f"{max(points):.1f}"


(test_low, test_high), (train_low, train_high) = drops(test), drops(train)
report.values(
    num_train=f"{NUM_TRAIN:,}", epochs=EPOCHS, lr=f"{LR}", p=P,
    seeds=len(SEEDS), steps=STEPS, num_test=f"{len(dataset[2]):,}",
    overfits=f"{100 * OVERFITS:.0f}", test_drop_low=test_low,
    test_drop_high=test_high, train_drop_low=train_low,
    train_drop_high=train_high,
    evaluated_at=", ".join(str(s) for s in EVALUATE_AT),
)
