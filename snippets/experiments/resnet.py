"""A small residual network for 28 x 28 grey images, and the parameter
groups that keep weight decay off normalization parameters and biases.

The blocks are ResNet's basic blocks (He et al.; torchvision's
``BasicBlock``): two 3 x 3 convolutions, each followed by BatchNorm, with
the input added back before the last ReLU. A 4 x 4 convolution of stride 4
turns the image into 7 x 7 feature maps first, which keeps a run short.
"""

from torch import nn


# --8<-- [start:block]
class BasicBlock(nn.Module):
    """relu(x + bn2(conv2(relu(bn1(conv1(x))))))."""

    def __init__(self, channels, norm=nn.BatchNorm2d):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = norm(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = norm(channels)
        self.relu = nn.ReLU()

    def forward(self, x):
        branch = self.relu(self.bn1(self.conv1(x)))
        return self.relu(x + self.bn2(self.conv2(branch)))


def small_resnet(channels=8, blocks=6, num_classes=10,
                 zero_init_residual=False):
    """A stem, ``blocks`` basic blocks, average pooling and a classifier.

    ``zero_init_residual``: gamma = 0 in each block's last BatchNorm
    (Goyal et al. 2017, Sec. 5.1; torchvision's ResNets have the same
    switch), so that every block starts as the identity.
    """
    model = nn.Sequential(
        nn.Conv2d(1, channels, 4, stride=4, bias=False),  # 28 -> 7
        nn.BatchNorm2d(channels), nn.ReLU(),
        *[BasicBlock(channels) for _ in range(blocks)],
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(channels, num_classes))
    if zero_init_residual:
        for block in model:
            if isinstance(block, BasicBlock):
                nn.init.zeros_(block.bn2.weight)  # the branch starts at 0
    return model
# --8<-- [end:block]


# --8<-- [start:groups]
# torch.nn's normalization layers: BatchNorm (Sync, Lazy), InstanceNorm,
# GroupNorm, LayerNorm, RMSNorm.
NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm,
         nn.RMSNorm)


def parameter_groups(model, weight_decay):
    """Two groups for an optimizer: weight decay on the weights of
    convolutions and linear layers, none on the parameters of
    normalization layers (gamma, beta) or on any bias."""
    decay, no_decay, seen = [], [], set()
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if id(param) in seen:  # shared: one group only
                continue
            seen.add(id(param))
            if isinstance(module, NORMS) or name == "bias":
                no_decay.append(param)
            else:
                decay.append(param)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]
# --8<-- [end:groups]
