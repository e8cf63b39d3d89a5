# %% [markdown]
# # Dropout on top of BatchNorm
#
# Dropout is a regularizer; BatchNorm mainly changes how a network trains,
# with some regularization from its noisy batch statistics (Ioffe and
# Szegedy 2015, sections 3.4 and 4.2.1). To give a regularizer something
# to do, LeNet with BatchNorm is trained for many epochs on a small
# training set (`NUM_TRAIN` images), with and without dropout (probability
# `P` after each hidden linear layer's activation), with the same few
# seeds (printed below). Train and test accuracy are measured in eval
# mode, at a few steps near the end of training, and averaged.
#
# Dropout without BatchNorm is left out; the experiments page says why.
#
# The question for BatchNorm: does a network that already has BatchNorm
# still gain from dropout? Both layers add noise during training, so the
# answer is not obvious.

# %% [markdown]
# ## Settings
#
# Few images and many epochs: a set-up meant to make LeNet overfit, that
# is, to do much better on the images it trained on than on new ones (a
# claim at the end checks that it does). `NUM_TRAIN` is a whole number of
# batches. `STEPS` is the length of each run, and `EVALUATE_AT` lists the
# steps after which accuracy is measured: a few evenly spaced steps over
# the last part of the run, ending with the last step. Averaging over
# them is steadier than a single measurement.
#
# The printed line gives the seeds, the number of steps, the evaluation
# steps and the number of images. Check it first: in fast mode the runs
# are far too short for the accuracies to mean anything.

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
EPOCHS = 4 if FAST else 80
NUM_TRAIN = 2 * BATCH_SIZE  # full batches
SEEDS = [0, 1] if FAST else [0, 1, 2]
STEPS = EPOCHS * NUM_TRAIN // BATCH_SIZE
EVALUATE_AT = final_stretch(STEPS, STEPS // 6)  # the last sixth
dataset = fashion_mnist(NUM_TRAIN, 500 if FAST else 2000)
print(f"seeds {SEEDS}; {STEPS} steps; accuracy after steps {EVALUATE_AT} "
      f"on the {NUM_TRAIN} training and {len(dataset[2]):,} test images")

# %% [markdown]
# ## Two variants, several seeds
#
# `lenet` with its defaults has BatchNorm after every hidden conv and
# linear layer. `partial(lenet, dropout=P)` is the same network with a
# dropout layer after the activation of each hidden linear layer.
#
# `repeat` trains each variant once per seed in `SEEDS`. One seed gives
# both variants the same initial weights and the same batches, so the
# two runs of a seed differ only by dropout. With `train_accuracy=True`,
# each run also measures its accuracy on the training images.

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

# %% [markdown]
# ## Train accuracy, test accuracy and their gap
#
# The figure has one panel per metric, and one row per variant. Each
# marker is one seed; the same marker is the same seed in every row and
# panel. The bar is the mean over the seeds.
#
# - **Train accuracy** and **test accuracy** are measured in eval mode
#   (`accuracy` in `snippets/support/training.py`), so BatchNorm uses its
#   running statistics.
# - **Train-test gap** is the train accuracy minus the test accuracy. A
#   large gap means that the model does much better on the images it
#   trained on than on new ones: it overfits.
#
# Look first at the gap panel: are the markers of the dropout row to the
# left of those of the other row? Then look at the test accuracy panel.
# A smaller gap is not by itself a better model. The gap can also shrink
# because train accuracy falls.

# %%
metrics = ("train accuracy", "test accuracy", "train-test gap")
fig = seed_figure(results, f"LeNet, {NUM_TRAIN:,} images, {STEPS} steps, "
                  f"lr {LR}", metrics)
report.figure(fig, "dropout")

# %% [markdown]
# The table gives the same comparison in numbers. For each metric:
# the mean over the seeds of each variant, with the lowest and the
# highest seed in brackets; then the difference (dropout minus BatchNorm
# alone), computed seed by seed.
#
# The "Verdict" column follows the procedure of
# `snippets/support/compare.py`. It says "better" or "worse" only when
# the difference has the same sign on every seed, and "within seed-to-seed
# noise" when the seeds disagree. For train accuracy and for the gap,
# neither direction is better in itself, so the verdict says "higher" or
# "lower". With a few seeds, a verdict describes these runs; it does not
# test a hypothesis.

# %%
bn, both = variants
comparisons = {m: compare(results, both, bn, m) for m in metrics}
rows = [[m.capitalize(), spread_text(measured(results, bn, m), m),
         spread_text(measured(results, both, m), m),
         effect_text(comparisons[m], m), comparisons[m].verdict]
        for m in metrics]
report.table("dropout", ["Metric (mean over seeds, lowest to highest)",
                         bn, both, "Difference", "Verdict"], rows)

# %% [markdown]
# ## For the site: values and claims
#
# The site's pages quote the numbers recorded here, and each claim is a
# rule that the build checks against this run. A reader can skip this
# section.
#
# The claims check whether BatchNorm alone overfits, and what adding
# dropout changed. Dropout's effect is judged seed by seed, as
# `snippets/support/compare.py` states: a difference is ranked only when
# it has the same sign on every seed.
#
# `bn_overfits` asks that, with BatchNorm alone, train accuracy is above
# test accuracy on every seed. "Overfits" asks for more here: the claim
# also asks that the train-test gap of BatchNorm alone is above
# `OVERFITS` on every seed.

# %%
OVERFITS = 0.05  # train minus test: a larger gap counts as overfitting
train = {name: measured(results, name, "train accuracy") for name in variants}
test = {name: measured(results, name, "test accuracy") for name in variants}
gaps = {name: measured(results, name, "train-test gap") for name in variants}
report.claim("bn_overfits", All([
    Paired("accuracy", f"{bn} on training images", train[bn],
           "on test images", test[bn], HIGHER, scale=100, unit=" points"),
    Above(f"smallest train-test gap over seeds, {bn} (points)",
          100 * min(gaps[bn]), 100 * OVERFITS)]))

# %% [markdown]
# `dropout_narrows_gap` asks for more than "lower on every seed" for the
# gap. It asks that the gap with dropout is lower on every seed, and that
# every run with dropout has a smaller gap than every run without.
# `dropout_test_lower` and `dropout_train_lower` ask that the test
# accuracy and the train accuracy are lower with dropout, on every
# seed.

# %%
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

# %% [markdown]
# `drops` gives, for one metric, how far below BatchNorm alone each seed
# with dropout ended: the lowest and the highest drop, in points. The
# page quotes these ranges, with the settings of the run.

# %%
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
