# %% [markdown]
# # Small-batch remedies, measured
#
# Each optimizer step sees 32 Fashion-MNIST images, but the normalization
# statistics come from micro-batches of 2, 4 or 8 of them: what each
# replica of a data-parallel run without synchronized BatchNorm computes,
# simulated in one process by ghost batch normalization. Against it:
# Batch Renormalization on the same micro-batches, GroupNorm (which needs
# no batch), and BatchNorm over all 32 (what SyncBatchNorm would compute).
# An MLP, the same batches and initial weights for every variant, three
# seeds; test accuracy in eval mode.

# %%
import matplotlib.pyplot as plt
import torch
from torch import nn

from snippets.experiments.models import mlp
from snippets.layers.small_batch import BatchRenorm, GhostBatchNorm
from snippets.support import data
from snippets.support.compare import Comparison
from snippets.support.report import FAST, Report
from snippets.support.training import accuracy, train

report = Report("practice_small_batch")
x_train, y_train = data.load("fashion_mnist", train=True)
x_test, y_test = data.load("fashion_mnist", train=False)
BATCH, STEPS = 32, (40 if FAST else 400)
MICRO = [2, 4, 8]
SEEDS = [0, 1, 2]

# %% [markdown]
# Batch Renormalization starts as BatchNorm and relaxes its limits
# gradually, as Ioffe does: here r_max = 1 and d_max = 0 for the first
# fifth of the steps, then linearly up to r_max = 3 and d_max = 5 at
# seven tenths of them.

# %%
# --8<-- [start:schedule]
def relax(model, step):
    """The r_max and d_max of every BatchRenorm layer at ``step``."""
    t = min(max((step / STEPS - 0.2) / 0.5, 0.0), 1.0)  # 0 -> 1
    for layer in model.modules():
        if isinstance(layer, BatchRenorm):
            layer.r_max, layer.d_max = 1 + 2 * t, 5 * t


variants = {"BatchNorm over 32": lambda m: (lambda c: nn.BatchNorm1d(c)),
            "GroupNorm(4, C)": lambda m: (lambda c: nn.GroupNorm(4, c)),
            "BatchNorm per micro-batch (ghost)":
                lambda m: (lambda c: GhostBatchNorm(c, m)),
            "Batch Renormalization per micro-batch":
                lambda m: (lambda c: BatchRenorm(c, virtual_batch_size=m,
                                                 r_max=1, d_max=0))}
results = {}  # (variant, micro-batch size) -> accuracy per seed
for name, norm_for in variants.items():
    sizes = MICRO if "micro" in name else [BATCH]
    for m in sizes:
        for seed in SEEDS:
            torch.manual_seed(seed)  # the same initial Linear weights
            model = mlp(norm=norm_for(m))
            train(model, x_train, y_train, epochs=1, batch_size=BATCH,
                  optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
                  seed=seed, max_steps=STEPS, label=f"{name}, {m}",
                  callback=lambda step, model=model: relax(model, step))
            results.setdefault((name, m), []).append(
                accuracy(model, x_test, y_test))
# --8<-- [end:schedule]
for key, accs in results.items():
    print(key, [f"{a:.2%}" for a in accs])


# %%
def mean(values):
    return sum(values) / len(values)


ghost, renorm = list(variants)[2:]
full = results["BatchNorm over 32", BATCH]
group = results["GroupNorm(4, C)", BATCH]
fig, ax = plt.subplots()
for i, name in enumerate((ghost, renorm)):
    accs = [results[name, m] for m in MICRO]
    ax.plot(MICRO, [mean(a) for a in accs], "o-", color=f"C{i}", label=name)
    for m, a in zip(MICRO, accs):
        ax.scatter([m] * len(a), a, color=f"C{i}", s=10, alpha=0.4)
for i, (name, accs) in enumerate([("BatchNorm over 32", full),
                                  ("GroupNorm(4, C)", group)]):
    ax.axhline(mean(accs), color=f"C{i + 2}", ls="--", label=name)
    ax.axhspan(min(accs), max(accs), color=f"C{i + 2}", alpha=0.1)
ax.set_xscale("log", base=2)
ax.set_xticks(MICRO, [str(m) for m in MICRO])
ax.set_xlabel("images per normalization statistic (batches of 32)")
ax.set_ylabel("test accuracy (eval mode)")
ax.set_title(f"MLP on Fashion-MNIST, {STEPS} steps of Adam, "
             f"{len(SEEDS)} seeds (dots; bands: range)", fontsize=10)
ax.legend(fontsize=8)
report.figure(fig, "small_batch")

# %%
comparisons = {}  # key -> (label, comparison of its own two sets of runs)
for m in MICRO:
    comparisons[f"renorm_{m}"] = (
        f"Batch Renorm vs BatchNorm, per micro-batch of {m}",
        Comparison(results[renorm, m], results[ghost, m]))
    comparisons[f"ghost_{m}"] = (
        f"BatchNorm per micro-batch of {m} vs over 32",
        Comparison(results[ghost, m], full))
    comparisons[f"group_{m}"] = (
        f"GroupNorm vs BatchNorm per micro-batch of {m}",
        Comparison(group, results[ghost, m]))
comparisons["group_full"] = ("GroupNorm vs BatchNorm over 32",
                             Comparison(group, full))
rows = []
for label, c in comparisons.values():
    low, high = c.paired
    rows.append([label, f"{c.mean:.2%}", f"{c.reference_mean:.2%}",
                 f"{c.effect * 100:+.2f}",
                 f"{low * 100:+.2f} to {high * 100:+.2f}", c.verdict])
report.table("comparisons", ["Comparison (variant vs reference)",
                             "Variant", "Reference", "Effect (points)",
                             "By seed (points)", "Verdict"], rows)
report.table("accuracy", ["Normalization", "Images per statistic",
                          *[f"Seed {s}" for s in SEEDS], "Mean"],
             [[name, m, *[f"{a:.2%}" for a in accs], f"{mean(accs):.2%}"]
              for (name, m), accs in results.items()])
for row in rows:
    print(row)

# %%
report.values(steps=STEPS, batch=BATCH, seeds=len(SEEDS),
              full=f"{mean(full):.2%}", group=f"{mean(group):.2%}",
              ghost_2=f"{mean(results[ghost, 2]):.2%}",
              renorm_2=f"{mean(results[renorm, 2]):.2%}")
c = comparisons["renorm_2"][1]
# Better than BatchNorm on the same micro-batches, still below BatchNorm
# over the whole batch: it recovers part of what the small batch loses.
report.claim("renorm_better_at_2", c.verdict == "better"
             and c.mean < mean(full), {
                 "Batch Renorm, mean": c.mean,
                 "BatchNorm on the same micro-batches, mean":
                     c.reference_mean,
                 "per-seed difference, lowest": c.paired[0],
                 f"BatchNorm over {BATCH}, mean": mean(full)})
ghost_means = {m: mean(results[ghost, m]) for m in MICRO}
report.claim("micro_2_worst", ghost_means[2] < min(
    v for m, v in ghost_means.items() if m != 2), {
        f"BatchNorm per {m}, mean": v for m, v in ghost_means.items()})
close = {m: comparisons[f"renorm_{m}"][1].effect for m in MICRO[1:]}
report.claim("renorm_close_at_4_and_8",
             all(abs(e) < 0.01 for e in close.values()), {
                 f"effect at {m} (accuracy)": e for m, e in close.items()})
worse = {m: comparisons[f"ghost_{m}"][1] for m in MICRO}
report.claim("micro_worse_than_full_at_every_size",
             all(c.verdict == "worse" for c in worse.values()), {
                 f"per-seed difference at {m}, highest": c.paired[1]
                 for m, c in worse.items()})
beats = {m: comparisons[f"group_{m}"][1] for m in MICRO[:2]}
report.claim("group_better_than_micro_2_and_4",
             all(c.verdict == "better" for c in beats.values()), {
                 f"per-seed difference at {m}, lowest": c.paired[0]
                 for m, c in beats.items()})
c = comparisons["group_full"][1]
report.claim("group_matches_full", c.verdict == "within seed-to-seed noise",
             {"GroupNorm, mean": c.mean, "BatchNorm over 32, mean":
                  c.reference_mean, "per-seed difference, lowest":
                  c.paired[0], "per-seed difference, highest": c.paired[1]})
