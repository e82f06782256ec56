"""The srlib model zoo: plain ``nn.Module`` networks honouring one contract (RGB [0, 1] in and out).

Importing this package registers every model file's entrypoints and checkpoint detectors.
"""

from srlib.models import bicubic, vdsr  # noqa: F401 - registration side effects
from srlib.models._checkpoint import (
    detect_architecture,
    load_model,
    load_state_dict,
    load_weights,
    register_detector,
    resolve_model,
    save_model,
)
from srlib.models._registry import (
    ModelInfo,
    create_model,
    get_model_entry,
    list_models,
    model_info,
    register_model,
)
from srlib.models.bicubic import Bicubic
from srlib.models.vdsr import VDSR

__all__ = [
    "VDSR",
    "Bicubic",
    "ModelInfo",
    "create_model",
    "detect_architecture",
    "get_model_entry",
    "list_models",
    "load_model",
    "load_state_dict",
    "load_weights",
    "model_info",
    "register_detector",
    "register_model",
    "resolve_model",
    "save_model",
]
