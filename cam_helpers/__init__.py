"""cam_helpers: the small, tested package behind the CAM notebooks.

    from cam_helpers import load_classifier, explain
    classifier = load_classifier("resnet18", fallback=True)   # offline model if no download
    result = explain(classifier, "images/cat_and_coffee.jpg", classes=["tabby", "espresso"])
"""

from .cam import all_class_maps, class_activation_maps, normalize_maps, upsample_maps
from .cam_layers import CAMNotApplicableError, find_cam_layers
from .classifier import Classifier
from .explain import Explanation, class_maps, explain, forward_with_features
from .gradcam import METHODS, GradCAMResult, cam_family, forward_for_gradcam, grad_cam, grad_cam_from_features
from .hooks import capture, count_hooks, eval_mode
from .models import load_classifier
from .tokens import TokenGrid
from .weights import WeightsUnavailableError

__version__ = "0.1.0"

__all__ = [
    "CAMNotApplicableError",
    "Classifier",
    "Explanation",
    "GradCAMResult",
    "METHODS",
    "TokenGrid",
    "WeightsUnavailableError",
    "all_class_maps",
    "cam_family",
    "capture",
    "class_activation_maps",
    "class_maps",
    "count_hooks",
    "eval_mode",
    "explain",
    "find_cam_layers",
    "forward_for_gradcam",
    "forward_with_features",
    "grad_cam",
    "grad_cam_from_features",
    "load_classifier",
    "normalize_maps",
    "upsample_maps",
]
