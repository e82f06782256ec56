"""The srlib model zoo: plain ``nn.Module`` networks honouring one contract (RGB [0, 1] in and out).

Importing this package registers every model file's entrypoints and checkpoint detectors.
"""

from srlib.models import bicubic, discriminators, edsr, fsrcnn, hat, mobilesr, rrdbnet, srresnet, srvgg, vdsr  # noqa: F401 - registration side effects
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
from srlib.models.discriminators import (
    UNetDiscriminatorSN,
    VGGDiscriminator,
    create_discriminator,
    list_discriminators,
    load_discriminator_weights,
    register_discriminator,
)
from srlib.models.edsr import EDSR
from srlib.models.fsrcnn import FSRCNN
from srlib.models.hat import HAT
from srlib.models.mobilesr import MobileSR
from srlib.models.rrdbnet import RRDBNet
from srlib.models.srresnet import MiniSRResNet
from srlib.models.srvgg import SRVGGNetCompact
from srlib.models.vdsr import VDSR

__all__ = [
    "EDSR",
    "FSRCNN",
    "HAT",
    "VDSR",
    "Bicubic",
    "MiniSRResNet",
    "MobileSR",
    "ModelInfo",
    "RRDBNet",
    "SRVGGNetCompact",
    "UNetDiscriminatorSN",
    "VGGDiscriminator",
    "create_discriminator",
    "create_model",
    "detect_architecture",
    "get_model_entry",
    "list_discriminators",
    "list_models",
    "load_discriminator_weights",
    "load_model",
    "load_state_dict",
    "load_weights",
    "model_info",
    "register_detector",
    "register_discriminator",
    "register_model",
    "resolve_model",
    "save_model",
]
