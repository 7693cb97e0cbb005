"""The CAM family moved into :mod:`cam_helpers.gradcam`, where every method is one row of
:data:`cam_helpers.gradcam.METHODS` beside Grad-CAM. This module keeps
``from cam_helpers.family import cam_family`` working for one release; import from
``cam_helpers.gradcam`` (or ``cam_helpers``) instead.
"""

from .gradcam import (  # noqa: F401  (re-exported names)
    GRADIENT_METHODS, METHODS, cam_family, fused_layer_cam, grad_cam_plus_plus_weights, hires_cam_maps,
    layer_cam_maps, score_cam_weights, xgrad_cam_weights,
)
