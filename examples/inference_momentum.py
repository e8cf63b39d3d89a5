# %% [markdown]
# # Momentum: one rule, three conventions
#
# PyTorch puts `momentum` on the new batch (default 0.1); Keras documents
# the same moving average with `momentum` on the old value (default 0.99);
# the from-scratch code of the Chinese edition of the d2l book (section
# 7.5) also weights the old value (0.9), while the current English
# edition (section 8.5) uses PyTorch's convention. The code compares the
# running means the rules give, converted (`1 - momentum`) and ported
# literally.
#
# The word "momentum" therefore names two different numbers. In PyTorch, a
# small `momentum` means a slow average that remembers many batches. In
# the Keras convention, and in the code of the Chinese d2l edition, a
# large `momentum` means the same thing. Copying a large Keras `momentum`
# into PyTorch without converting it turns a slow average into a very
# fast one.

# %% [markdown]
# ## The data
#
# `batches` is a list of small random batches with a few features each.
# The mean of the data grows a little from one batch to the next, as the
# activations of a layer can drift while a network trains. With a drifting
# mean, a slow and a fast moving average end at visibly different values,
# so a wrong conversion shows clearly in the results.

# %%
import torch
from torch import nn

from snippets.support.report import Report
from snippets.support.rules import Below, Greater

report = Report("inference_momentum")
g = torch.Generator().manual_seed(0)
# 50 batches of 32 samples, 3 features, drifting means (as in training).
batches = [torch.randn(32, 3, generator=g) + 0.05 * t for t in range(50)]

# %% [markdown]
# ## The three rules
#
# Each rule takes the current average and the mean of a new batch, and
# returns the new average. `pytorch_rule` puts `momentum` on the new batch.
# `keras_rule` and `d2l_rule` put `momentum` on the old value, as their
# sources write them (quoted in the comments). The defaults are the ones
# each source uses.
#
# `run` applies a rule to all the `batches`, starting from zero, as a
# BatchNorm layer's `running_mean` does. `module` feeds the same batches
# to a real `nn.BatchNorm1d` in training mode and returns its
# `running_mean`. So `run` is our reading of a rule, and `module` is what
# PyTorch does.

# %%
# --8<-- [start:rules]
def pytorch_rule(running, batch_mean, momentum=0.1):
    return (1 - momentum) * running + momentum * batch_mean


def keras_rule(moving, batch_mean, momentum=0.99):
    # Keras docs: moving_mean = moving_mean * momentum
    #                           + mean(batch) * (1 - momentum)
    return moving * momentum + batch_mean * (1 - momentum)


def d2l_rule(moving, batch_mean, momentum=0.9):
    # d2l (Chinese edition, 7.5): moving_mean = momentum * moving_mean
    #                                           + (1.0 - momentum) * mean
    return momentum * moving + (1.0 - momentum) * batch_mean


def run(rule, momentum):
    running = torch.zeros(3)
    for batch in batches:
        running = rule(running, batch.mean(0), momentum)
    return running


def module(momentum):
    bn = nn.BatchNorm1d(3, momentum=momentum)
    for batch in batches:
        bn(batch)
    return bn.running_mean
# --8<-- [end:rules]


# %% [markdown]
# ## Converted and literal
#
# Each case below is a rule and a `momentum` (`written`) in that rule's own
# convention. Three of them are the values that the sources use. The other
# two are source values converted to the other convention (`1 - momentum`).
# `on_new` is the weight on the new batch: the same number for PyTorch's
# rule, and `1 - momentum` for the Keras and d2l rules. The rule's result is
# then compared with `nn.BatchNorm1d(momentum=on_new)`, and `diff` is the
# largest difference over the features. `converted` keeps these differences
# for the claims at the end.
#
# The last case is the mistake: Keras's default is passed to PyTorch as it
# is, without the conversion. That layer is compared with what the Keras
# rule really computes.

# %%
rows, converted = [], []
for name, rule, written in [
        ("PyTorch rule", pytorch_rule, 0.1),
        ("Keras rule", keras_rule, 0.9),
        ("d2l rule", d2l_rule, 0.9),
        ("Keras rule (its default)", keras_rule, 0.99),
        ("PyTorch rule", pytorch_rule, 0.01)]:
    on_new = written if rule is pytorch_rule else 1 - written
    diff = (run(rule, written) - module(on_new)).abs().max().item()
    converted.append(diff)
    rows.append([name, f"{written:g}", f"{on_new:g}",
                 f"nn.BatchNorm1d(momentum={on_new:g})", f"{diff:.1e}"])
literal = (module(0.99) - run(keras_rule, 0.99)).abs().max().item()
rows.append(["Keras 0.99 ported literally", "0.99", "0.99",
             "nn.BatchNorm1d(momentum=0.99)", f"{literal:.2f}"])

# %% [markdown]
# The table has one row per case. The second and third columns show the
# number as written and the weight it puts on the new batch. In the rows
# that convert, the last column should be at the level of float32
# rounding: the two sides compute the same average, written in a
# different way. Then compare the last row with the others. A layer
# built with `momentum=0.99` gives almost all the weight to the newest
# batch, so its `running_mean` is close to the last batch's mean, not to a
# long average. Is its difference at the level of rounding, or at the
# level of the data?

# %%
report.table("conventions", [
    "Update", "momentum as written", "Weight on the new batch",
    "Compared with", "Largest difference in running_mean"], rows)

# %% [markdown]
# What to take from this example: before you copy a `momentum` value from
# another framework or a book, check which side it weights. If it weights
# the old value, PyTorch needs `1 - momentum`.

# %% [markdown]
# ## For the site: values and claims
#
# The site's pages quote these results, and each claim is a rule that the
# build checks against this run. A reader can skip this section.
#
# `converted_rules_agree` divides the largest difference after
# conversion by the size of the running means, and asks that the result
# is below the claim's bound. `literal_port_keeps_last_batch` measures
# how far two layers end from the last batch's mean: the literal port
# (`momentum=0.99`) and the layer it was meant to be (`momentum=0.01`).
# It asks that the layer it was meant to be is farther from that mean
# than the literal port, by more than the factor in the rule.

# %%
last = batches[-1].mean(0)
to_last = {m: (module(m) - last).abs().max().item() for m in (0.99, 0.01)}
scale = max(abs(r).max().item() for r in (module(0.1), last))
# Float32 rounding: a relative difference below one part in a million.
report.claim("converted_rules_agree", Below(
    "largest difference after conversion / size of the running means",
    max(converted) / scale, 1e-6))
# "Keeps only about the last batch": 20 times closer to the last batch's
# mean than the layer it was meant to be (momentum=0.01).
report.claim("literal_port_keeps_last_batch", Greater(
    "distance of momentum=0.01 from the last batch's mean", to_last[0.01],
    "that of momentum=0.99", to_last[0.99], factor=20))
