"""Lightning modules, callbacks, the one run skeleton (:func:`run_task`) and recipes for training."""

from srlib._lazy import lazy_exports
from srlib.lit.callbacks import AtomicCheckpointIO, ExportWeights, GeneratorEMA, LastCheckpoint
from srlib.lit.sr_module import SRModule, optimizer_config
from srlib.precision import auto_precision

__all__ = [
    "AtomicCheckpointIO",
    "ExportWeights",
    "GeneratorEMA",
    "LastCheckpoint",
    "RecipeError",
    "SRGANModule",
    "SRModule",
    "auto_precision",
    "compose_recipe",
    "expand_sweep",
    "list_recipes",
    "optimizer_config",
    "register_task",
    "run_task",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        # SRGANModule imports srlib.losses (torchvision, lpips): only when used.
        "SRGANModule": "srlib.lit.srgan_module",
        **dict.fromkeys(
            ("RecipeError", "compose_recipe", "expand_sweep", "list_recipes"), "srlib.lit.recipes"
        ),
        **dict.fromkeys(("register_task", "run_task"), "srlib.lit.run"),
    },
    globals(),
)
