"""Two small CNNs with the same conv trunk, and a seeded training loop.

The two models differ only in their head, which is the whole point of CAM:

    GAPNet:      trunk -> (B, C, 8, 8) -> global average pool -> (B, C)     -> Linear -> (B, K)
    FlattenNet:  trunk -> (B, C, 8, 8) -> flatten              -> (B, C*64)  -> Linear -> (B, K)

GAPNet's ``fc.weight`` is (K, C): one weight per feature map, so the class map
M_c(x, y) = sum_k w_k^c f_k(x, y) exists. FlattenNet's is (K, C*64): a weight per feature *and
position*, so there is no single map to draw. Both name the trunk ``features`` and the final
Linear ``fc``, as :mod:`cam_helpers.cam` expects.

:func:`train_model` gives the same weights for the same seed on any machine with the same CPU type
and torch version: it always trains with ``TRAINING_THREADS`` CPU threads, since the conv weight
gradients are summed in an order that depends on the thread count. The second run of an identical
training loads the weights the first one saved (see :func:`trained_cache_dir`) and says so.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import os
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm  # a notebook widget in Jupyter, a text bar elsewhere

from .hooks import eval_mode

__all__ = [
    "GAPNet", "FlattenNet", "TrainingHistory", "train_model", "predict", "accuracy", "count_parameters",
    "seeded", "trained_cache_dir", "TRAINING_THREADS",
]

DEFAULT_CHANNELS = (16, 32, 64, 128)
# CPU threads of every training. oneDNN splits the sum over the batch of a conv's weight gradient
# by thread, so 1, 2 and 4 threads train different weights (test accuracy 0.973 / 0.947 / 0.967 for
# notebook 08's network). 2 is Colab's and a small laptop's count, costs at most 1.1x on one core
# and is the fastest count on two (benchmarks/train_threads.py).
TRAINING_THREADS = 2


def _conv_trunk(channels: Sequence[int] = DEFAULT_CHANNELS) -> nn.Sequential:
    """Conv blocks (conv 3x3 -> batch norm -> ReLU, then 2x2 max-pool except the last).

    With 4 blocks a (B, 3, 64, 64) batch becomes (B, channels[-1], 8, 8).
    ReLUs are not in-place: in-place ReLUs break hooks that read activations.
    """
    blocks = []
    for i, (in_channels, out_channels) in enumerate(zip((3, *channels), channels)):
        layers = [
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=False),
        ]
        if i < len(channels) - 1:
            layers.append(nn.MaxPool2d(2))  # halve the resolution
        blocks.append(nn.Sequential(*layers))
    return nn.Sequential(*blocks)


class GAPNet(nn.Module):
    """trunk -> global average pooling -> Linear: a CAM-ready classifier.

    ``channels``: of the conv blocks, C = channels[-1]; ``seed``: if given, the initial weights
    depend only on it (the global random state is left untouched).
    Shapes: (B, 3, H, W) -> features (B, C, H/8, W/8) -> (B, C) -> (B, K), K = ``num_classes``.
    """

    def __init__(self, num_classes: int, channels: Sequence[int] = DEFAULT_CHANNELS, seed: int | None = None):
        super().__init__()
        with seeded(seed):  # the initial weights depend only on the seed
            self.features = _conv_trunk(channels)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.flatten = nn.Flatten()
            self.fc = nn.Linear(channels[-1], num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.features(images)  # (B, C, h, w)
        pooled = self.flatten(self.pool(features))  # (B, C)
        return self.fc(pooled)  # (B, K)


class FlattenNet(nn.Module):
    """trunk -> flatten -> Linear: the "traditional" head, where CAM is not possible.

    ``channels`` and ``seed`` as in :class:`GAPNet` (the same trunk); ``image_size`` H = W of
    the input fixes the Linear's input size C * (H/8)**2.
    Shapes: (B, 3, H, W) -> features (B, C, H/8, W/8) -> (B, C*H*W/64) -> (B, K).
    """

    def __init__(
        self,
        num_classes: int,
        channels: Sequence[int] = DEFAULT_CHANNELS,
        image_size: int = 64,
        seed: int | None = None,
    ):
        super().__init__()
        side = image_size // 2 ** (len(channels) - 1)  # each pool halves the side
        with seeded(seed):  # the initial weights depend only on the seed
            self.features = _conv_trunk(channels)
            self.flatten = nn.Flatten()
            self.fc = nn.Linear(channels[-1] * side * side, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.features(images)  # (B, C, h, w)
        return self.fc(self.flatten(features))  # (B, C*h*w) -> (B, K)


@dataclass
class TrainingHistory:
    """What happened during training: per epoch the mean training cross-entropy (``loss``) and the
    training ``accuracy`` (on the batches, while the model was learning); the run's wall-clock ``seconds``.

    ``cache_file``: where the weights were loaded from when this exact training had run before
    (``loss``, ``accuracy`` and ``seconds`` are then the original run's); None when this call trained.
    """

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    seconds: float = 0.0
    cache_file: str | None = None


def train_model(
    model: nn.Module,
    dataset,
    epochs: int = 6,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = True,
    cache: bool = True,
) -> TrainingHistory:
    """Train with Adam and cross-entropy (the same seed, the same weights); the model ends in eval mode.

    Args:
        model: e.g. :class:`GAPNet`; trained in place on its own device.
        dataset: anything with ``.images`` (N, 3, H, W) and ``.labels`` (N,),
            such as :class:`cam_helpers.synthetic.SyntheticShapes`.
        seed: fixes the order of the batches and any other random draw of training, such as dropout
            (the caller's global random state is put back afterwards). Build the model with
            ``seed=`` too for fully reproducible weights.
        progress: show a progress bar (tqdm) with the epoch and loss.
        cache: if this exact training ran before (the same model class, code, initial weights,
            data, settings, seed, torch version and device), load the weights it saved instead of
            training again, and print one line that says so; they equal freshly trained weights bit
            for bit. ``cache=False`` (or ``CAM_HELPERS_CACHE=off``) always trains and saves nothing.
            See :func:`trained_cache_dir` for the folder. Models whose class is defined in a
            notebook (code that cannot be read back) are always trained.

    Training runs with ``TRAINING_THREADS`` CPU threads (the caller's setting is restored), so the
    weights do not depend on ``torch.set_num_threads``.
    """
    images, labels = _images_and_labels(dataset)
    device = next(model.parameters()).device
    if images.shape[0] == 0:
        raise ValueError("the dataset has no images to train on; make it with num_images >= 1")
    folder = trained_cache_dir() if cache else None
    key = _cache_key(model, images, labels, (epochs, batch_size, float(lr), seed), device) if folder else None
    path = folder / f"{type(model).__name__}-{key}.pt" if key else None
    if path is not None and path.exists():
        history = _load_trained(model, path)
        if history is not None:
            print(_cache_message(path, history.seconds))
            return history
    with _reproducible(device), seeded(seed):
        history = _train(model, images, labels, epochs, batch_size, lr, seed, progress, device)
    if path is not None:
        _save_trained(model, history, path)
    return history


def _train(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, epochs: int, batch_size: int,
    lr: float, seed: int, progress: bool, device: torch.device,
) -> TrainingHistory:
    """The training loop of :func:`train_model`: images (N, 3, H, W), labels (N,)."""
    n = images.shape[0]
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = TrainingHistory()
    bar = tqdm(total=epochs * math.ceil(n / batch_size), desc="training", unit="batch", disable=not progress)
    start = time.perf_counter()
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(n, generator=generator)  # shuffled on the CPU: same order on any device
        loss_sum, correct, seen = 0.0, 0, 0
        for batch in order.split(batch_size):
            x = images[batch].to(device, non_blocking=True)  # (b, 3, H, W)
            y = labels[batch].to(device, non_blocking=True)  # (b,)
            logits = model(x)  # (b, K)
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(batch)
            correct += (logits.argmax(dim=1) == y).sum().item()
            seen += len(batch)
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}")
        history.loss.append(loss_sum / seen)
        history.accuracy.append(correct / seen)
    bar.close()
    history.seconds = time.perf_counter() - start
    optimizer.zero_grad(set_to_none=True)  # leave no .grad behind on the parameters
    model.eval()
    return history


@contextmanager
def _reproducible(device: torch.device) -> Iterator[None]:
    """TRAINING_THREADS CPU threads and deterministic cuDNN inside; the caller's settings after."""
    threads = torch.get_num_threads()
    cudnn = torch.backends.cudnn
    cudnn_settings = cudnn.deterministic, cudnn.benchmark
    torch.set_num_threads(TRAINING_THREADS)
    if device.type == "cuda":  # cuDNN may otherwise pick a conv backward that sums in any order
        cudnn.deterministic, cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        cudnn.deterministic, cudnn.benchmark = cudnn_settings


# ---------------------------------------------------------------- the trained-weights cache

_CACHE_OFF = {"off", "0", "false", "no", "none"}
_CACHE_FORMAT = 1  # bump when the saved file's layout changes


def trained_cache_dir() -> Path | None:
    """The folder where :func:`train_model` keeps trained weights; None when the cache is off.

    ``$CAM_HELPERS_CACHE/trained`` when the environment variable CAM_HELPERS_CACHE names a folder,
    ``$XDG_CACHE_HOME/cam_helpers/trained`` or else ``~/.cache/cam_helpers/trained`` (the same place
    as torch's own cache); ``CAM_HELPERS_CACHE=off`` switches the cache off. One file per training,
    ``GAPNet-<key>.pt`` with the trained state dict and history; deleting the folder is always safe.
    """
    setting = os.environ.get("CAM_HELPERS_CACHE", "").strip()
    if setting.lower() in _CACHE_OFF:
        return None
    if setting:
        return Path(setting).expanduser() / "trained"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cam_helpers" / "trained"


def _cache_key(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, settings: tuple, device: torch.device
) -> str | None:
    """A hash of everything that decides the trained weights; None if the model's code cannot be read.

    The model: its classes' source files (torch's own are covered by its version), its layout
    (``repr``), the initial weights and buffers (names, shapes, dtypes, bytes), which parameters
    train; the data (N, 3, H, W) and (N,) bytes; (epochs, batch size, lr, seed); this file (the loop,
    TRAINING_THREADS); torch's version and the device (CPU instruction set, or GPU and cuDNN version).
    """
    sources = _model_sources(model)
    if sources is None:
        return None
    digest = hashlib.sha256()

    def add(*parts) -> None:
        for part in parts:
            digest.update(part if isinstance(part, (bytes, memoryview)) else repr(part).encode())
            digest.update(b"\0")  # keeps ("ab", "c") apart from ("a", "bc")

    add(_CACHE_FORMAT, Path(__file__).read_bytes(), *sources, repr(model), settings, torch.__version__)
    if device.type == "cuda":
        add(torch.cuda.get_device_name(device), torch.version.cuda, torch.backends.cudnn.version())
    else:
        add(device.type, torch.backends.cpu.get_cpu_capability())  # e.g. AVX2 and AVX512 kernels differ
    for name, tensor in model.state_dict().items():
        add(name, tuple(tensor.shape), str(tensor.dtype), _tensor_bytes(tensor))
    add([(name, p.requires_grad) for name, p in model.named_parameters()])
    for tensor in (images, labels):
        add(tuple(tensor.shape), str(tensor.dtype), _tensor_bytes(tensor))
    return digest.hexdigest()[:32]


def _model_sources(model: nn.Module) -> list[bytes] | None:
    """The source files of the model's module classes outside torch; None if one cannot be read."""
    sources = {}
    for cls in {type(m) for m in model.modules()}:
        if cls.__module__.split(".")[0] == "torch":
            continue  # torch's version is part of the key
        try:
            path = inspect.getsourcefile(cls)
            sources[path] = Path(path).read_bytes()
        except (TypeError, OSError):  # defined in a notebook or an interactive session
            return None
    return [sources[path] for path in sorted(sources)]


def _tensor_bytes(tensor: torch.Tensor) -> memoryview:
    """The raw bytes of a tensor of any dtype, without a copy when it is a contiguous CPU tensor."""
    flat = tensor.detach().cpu().contiguous().reshape(-1)
    return memoryview(flat.view(torch.uint8).numpy())


def _load_trained(model: nn.Module, path: Path) -> TrainingHistory | None:
    """Load the saved weights into ``model`` (eval mode, no .grad); None, with a warning, if unusable."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        weights = saved["state_dict"]
        expected = model.state_dict()
        if saved.get("format") != _CACHE_FORMAT or list(weights) != list(expected) or any(
            weights[k].shape != v.shape or weights[k].dtype != v.dtype for k, v in expected.items()
        ):
            raise ValueError("it does not hold this model's weights")
        history = TrainingHistory(
            [float(v) for v in saved["loss"]], [float(v) for v in saved["accuracy"]],
            float(saved["seconds"]), str(path),
        )
    except Exception as error:  # a cut-off write, another torch version's pickle, a foreign file
        reason = (str(error).strip().splitlines() or [""])[0][:160]  # torch's unpickling errors run long
        warnings.warn(f"could not use the cached weights {path} ({type(error).__name__}: {reason}); "
                      "training again and replacing the file", stacklevel=3)
        return None
    model.load_state_dict(weights)  # checked above: the same names, shapes and dtypes
    for parameter in model.parameters():
        parameter.grad = None  # as after training
    model.eval()
    return history


def _save_trained(model: nn.Module, history: TrainingHistory, path: Path) -> None:
    """Write the trained weights and history; an unwritable folder costs a warning, not the training."""
    content = {
        "format": _CACHE_FORMAT,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "loss": history.loss,
        "accuracy": history.accuracy,
        "seconds": history.seconds,
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written under a temporary name, then renamed: a reader never sees half a file.
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".part")
        with os.fdopen(handle, "wb") as file:
            torch.save(content, file)
        os.replace(temporary, path)
    except OSError as error:
        warnings.warn(f"could not save the trained weights to {path} ({error}); "
                      "set CAM_HELPERS_CACHE to a writable folder, or pass cache=False", stacklevel=3)


def _cache_message(path: Path, seconds: float) -> str:
    """The one line that says the weights come from the cache, in the exercises' language."""
    from .exercises import Text  # the language set by exercises.set_language; imported late, no cycle

    return Text(
        "Loaded the weights this exact training produced before (cache: {path}; same seed, data and "
        "code; it took {seconds:.1f} s then). Pass cache=False to train again.",
        "이 학습을 전에 똑같이 실행해서 얻은 가중치를 불러왔습니다(캐시: {path}; 같은 시드, 데이터, "
        "코드; 그때 {seconds:.1f}초 걸렸습니다). 다시 학습하려면 cache=False를 넘기십시오.",
    ).format(path=path, seconds=seconds)


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Logits (N, K) for images (N, 3, H, W), in eval mode, batch by batch.

    Every module's train/eval flag is restored afterwards."""
    device = next(model.parameters()).device
    with eval_mode(model):
        logits = [model(chunk.to(device)) for chunk in images.split(batch_size)]  # (b, K) each
    return torch.cat(logits)  # (N, K)


def accuracy(model: nn.Module, dataset, batch_size: int = 256) -> float:
    """Fraction of images classified correctly; ``dataset`` as in :func:`train_model`."""
    images, labels = _images_and_labels(dataset)
    predicted = predict(model, images, batch_size).argmax(dim=1)
    return (predicted.cpu() == labels.cpu()).float().mean().item()


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameter values (e.g. GAPNet's fc has K*C + K)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """A block whose random numbers depend only on ``seed``; the caller's random state is kept.

    Inside, the global generators are seeded with ``seed`` (``torch.manual_seed``); on exit the CPU
    generator and those of the CUDA devices in use are put back as they were
    (``torch.random.fork_rng``), so code after the block draws what it would have drawn without it.
    ``seed=None`` does nothing. Used for seeded initial weights (``GAPNet(seed=...)``), training,
    and the re-initialised layers of :func:`cam_helpers.metrics.cascade_randomize`::

        with seeded(0):
            layer.reset_parameters()   # the same weights every run; torch.rand() afterwards unchanged
    """
    cuda_devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=cuda_devices, enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        yield


def _images_and_labels(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    if hasattr(dataset, "images") and hasattr(dataset, "labels"):
        return dataset.images, dataset.labels
    name = type(dataset).__name__
    raise TypeError(f"dataset needs .images (N, 3, H, W) and .labels (N,), like SyntheticShapes; got {name}")
