"""Command line: ``python -m cam_helpers explain | doctor | download-weights``.

``explain IMAGE [--model NAME] [--top K] [--out FILE.png]`` prints the top
predictions and writes a figure with the image, the CAM and the overlay for
each of the top classes. Works offline: ``--model efficientnet_lite0`` (or the
default resnet18, which falls back to it when its weights cannot be had).

``doctor`` checks that this machine can run the series (exit 0) or says what
to fix (exit 1); it downloads nothing.

``download-weights [resnet18 ...] [--to DIR]`` fetches ImageNet weights into the
torch cache, or into DIR (a folder to copy onto USB sticks; point
``CAM_HELPERS_WEIGHTS`` at it, or copy its files into the torch cache).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import doctor
from .weights import WEIGHTS_DIR_ENV, WeightsUnavailableError, cached_weights_path, download_weights


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cam_helpers", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    explain_cmd = commands.add_parser("explain", help="predict an image and draw its class activation maps")
    explain_cmd.add_argument("image", help="path to an image file, or a sample name such as 'cat'")
    explain_cmd.add_argument("--model", default="resnet18", help="model name (default resnet18; offline: efficientnet_lite0)")
    explain_cmd.add_argument("--top", type=int, default=3, help="how many top classes to explain (default 3)")
    explain_cmd.add_argument("--class", dest="classes", action="append", help="explain this class (name or index); repeatable")
    explain_cmd.add_argument("--out", default=None, help="where to write the figure (PNG); default: no figure")
    explain_cmd.add_argument("--no-fallback", action="store_true", help="fail instead of using the offline model")
    explain_cmd.add_argument("--device", default=None, help="cpu or cuda (default: cpu)")
    commands.add_parser("doctor", help="check that this machine can run the series; downloads nothing")
    download_cmd = commands.add_parser("download-weights", help="fetch ImageNet weights into the torch cache or a folder")
    download_cmd.add_argument("models", nargs="*", default=["resnet18"], help="model names (default: resnet18)")
    download_cmd.add_argument("--to", default=None, help="a folder to fill (e.g. for USB sticks) instead of the torch cache")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "doctor":
        return doctor.main()
    if args.command == "download-weights":
        return download(args.models, args.to)
    return explain_command(args)


def download(models: list[str], to: str | None) -> int:
    """Fetch the weights and say where they went and how load_classifier finds them; 1 on failure."""
    try:
        paths = download_weights(models, to=to)
    except (ValueError, WeightsUnavailableError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for path in paths:
        print(f"✓ {path} ({path.stat().st_size / 1e6:.0f} MB)")
    if to is not None:
        folder = Path(to).expanduser().resolve()
        print(
            f"Copy {folder} to each machine, then either set {WEIGHTS_DIR_ENV}={folder} before starting "
            f"JupyterLab, or copy its files into {cached_weights_path(paths[0].name).parent}."
        )
    return 0


def explain_command(args: argparse.Namespace) -> int:
    from .explain import explain
    from .images import SAMPLES, load_image, sample_path
    from .models import load_classifier

    source = args.image
    if not Path(source).exists() and source in SAMPLES:
        source = sample_path(source)
    try:
        image = load_image(source)
        classifier = load_classifier(args.model, fallback=not args.no_fallback, device=args.device)
        classes = [int(c) if c.isdigit() else c for c in args.classes] if args.classes else None
        result = explain(classifier, image, classes=classes, top_k=args.top)
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(classifier.summary())
    print(f"Top {args.top} predictions for {args.image}:")
    for rank, (name, prob) in enumerate(result.top(args.top), start=1):
        print(f"  {rank}. {name:<30s} {prob:6.1%}")
    if args.out:
        import matplotlib

        matplotlib.use("Agg")
        from .viz import explanation_grid

        figure = explanation_grid(result)
        figure.savefig(args.out, dpi=100)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
