"""CPU and CUDA give the same maps (skipped without a GPU)."""

import pytest
import torch

from cam_helpers.cam import all_class_maps, normalize_maps, upsample_maps
from cam_helpers.explain import explain

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; runs on the device machine"),
]


def test_cam_math_cpu_vs_cuda():
    g = torch.Generator().manual_seed(0)
    features, weight, bias = torch.randn(4, 512, 7, 7, generator=g), torch.randn(1000, 512, generator=g), torch.randn(1000, generator=g)
    cpu = normalize_maps(upsample_maps(all_class_maps(features, weight, bias), 224))
    gpu = normalize_maps(upsample_maps(all_class_maps(features.cuda(), weight.cuda(), bias.cuda()), 224))
    assert gpu.device.type == "cuda"
    assert (gpu.cpu() - cpu).abs().max() <= 1e-4


@pytest.fixture()
def exact_cuda():
    """cuDNN may use TF32 (10-bit mantissa) for convolutions; compare in full float32."""
    previous = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = previous


def test_explain_cpu_vs_cuda(lite0, random_batch, exact_cuda):
    batch = random_batch(2)
    cpu = explain(lite0, batch, classes=[281, 967])
    lite0.to("cuda")
    try:
        gpu = explain(lite0, batch, classes=[281, 967])
        assert gpu.maps.device.type == "cuda"
        assert (gpu.maps.cpu() - cpu.maps).abs().max() <= 1e-4
        assert (gpu.raw_maps.cpu() - cpu.raw_maps).abs().max() <= 1e-3
    finally:
        lite0.to("cpu")
