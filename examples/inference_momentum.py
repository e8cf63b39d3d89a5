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

# %%
import torch
from torch import nn

from snippets.support.report import Report
from snippets.support.rules import Below, Greater

report = Report("inference_momentum")
g = torch.Generator().manual_seed(0)
# 50 batches of 32 samples, 3 features, drifting means (as in training).
batches = [torch.randn(32, 3, generator=g) + 0.05 * t for t in range(50)]

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
for row in rows:
    print(row)
report.table("conventions", [
    "Update", "momentum as written", "Weight on the new batch",
    "Compared with", "Largest difference in running_mean"], rows)
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
