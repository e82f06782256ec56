"""The srlib model zoo: plain ``nn.Module`` networks honouring one contract (RGB [0, 1] in and out).

This file is the package's composition root, the only module that imports the architectures. The
import graph inside ``srlib.models`` flows one way (``tests/models/test_layering.py`` enforces it)::

    _state_io, _contract          leaves: files and tensors / the input contract
        -> _registry              entries (kind, detector, detection order, tags); no architecture
            -> vdsr, hat, ..., discriminators     each registers its entries
               (the video models vsr_frame/_window/_recurrent share _vsr_blocks, below them)
                -> _checkpoint    save/load/detect through the registry
                    -> _blend, _pretrained   network interpolation / srlib's shipped weights
                        -> __init__   imports them all
"""

from srlib.models import (  # noqa: F401 - importing the files registers their entries
    bicubic,
    discriminators,
    edsr,
    fsrcnn,
    hat,
    mobilesr,
    rrdbnet,
    srresnet,
    srvgg,
    vdsr,
    vsr_frame,
    vsr_recurrent,
    vsr_window,
)
from srlib.models._blend import blend_models
from srlib.models._checkpoint import (
    ALLOW_NONFINITE_ENV,
    NonFiniteWeightsError,
    WeightFileError,
    check_resume_checkpoint,
    detect_architecture,
    load_checked,
    load_discriminator_weights,
    load_model,
    load_state_dict,
    load_weights,
    save_model,
)
from srlib.models._pretrained import (
    WEIGHT_SUFFIXES,
    NoPackagedWeightsError,
    PackagedWeightsError,
    create_model,
    list_pretrained,
    resolve_init_weights,
    resolve_model,
)
from srlib.models._registry import (
    ModelInfo,
    WeightTag,
    create_discriminator,
    get_discriminator_entry,
    get_model_entry,
    is_temporal,
    list_discriminators,
    list_models,
    model_info,
    register_detector,
    register_discriminator,
    register_model,
)
from srlib.models.bicubic import Bicubic
from srlib.models.discriminators import UNetDiscriminatorSN, VGGDiscriminator
from srlib.models.edsr import EDSR
from srlib.models.fsrcnn import FSRCNN
from srlib.models.hat import HAT
from srlib.models.mobilesr import MobileSR
from srlib.models.rrdbnet import RRDBNet
from srlib.models.srresnet import MiniSRResNet
from srlib.models.srvgg import SRVGGNetCompact
from srlib.models.vdsr import VDSR
from srlib.models.vsr_frame import VSRFrame
from srlib.models.vsr_recurrent import VSRRecurrent
from srlib.models.vsr_window import VSRWindow

__all__ = [
    "ALLOW_NONFINITE_ENV",
    "EDSR",
    "FSRCNN",
    "HAT",
    "VDSR",
    "WEIGHT_SUFFIXES",
    "Bicubic",
    "MiniSRResNet",
    "MobileSR",
    "ModelInfo",
    "NoPackagedWeightsError",
    "NonFiniteWeightsError",
    "PackagedWeightsError",
    "RRDBNet",
    "SRVGGNetCompact",
    "UNetDiscriminatorSN",
    "VGGDiscriminator",
    "VSRFrame",
    "VSRRecurrent",
    "VSRWindow",
    "WeightFileError",
    "WeightTag",
    "blend_models",
    "check_resume_checkpoint",
    "create_discriminator",
    "create_model",
    "detect_architecture",
    "get_discriminator_entry",
    "get_model_entry",
    "is_temporal",
    "list_discriminators",
    "list_models",
    "list_pretrained",
    "load_checked",
    "load_discriminator_weights",
    "load_model",
    "load_state_dict",
    "load_weights",
    "model_info",
    "register_detector",
    "register_discriminator",
    "register_model",
    "resolve_init_weights",
    "resolve_model",
    "save_model",
]
