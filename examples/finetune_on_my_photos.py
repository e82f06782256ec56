"""Fine-tune a zoo model on your own photos with srlib's pieces in plain Python (no Hydra).

    python examples/finetune_on_my_photos.py --train /photos/train [--val /photos/held_out] --scale 2

(The same with a recipe: ``python -m srlib.train recipe=finetune init_weights=W data.train_dir=D``.)

The photos are HR ground truth: LR inputs are made on the fly (MATLAB bicubic) on the batch's
device. The best weights are written as an srlib safetensors file that ``srlib.load_model`` and
``python -m srlib.upscale`` accept.
"""

from __future__ import annotations

import argparse
from functools import partial

import lightning as L
import torch

import srlib
from srlib.data import ImageFolderDataModule
from srlib.lit import ExportWeights, SRModule, auto_precision


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", required=True, help="folder of HR training photos")
    parser.add_argument("--val", help="folder of held-out HR photos (default: hold out 10%% of --train)")
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--model", default="vdsr")
    parser.add_argument("--weights", help="start from these weights (e.g. a published checkpoint)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--out", default="outputs/finetune")
    args = parser.parse_args()

    net = srlib.create_model(args.model, scale=args.scale)
    if args.weights:
        srlib.load_weights(net, args.weights)
    data = ImageFolderDataModule(
        train_dir=args.train, val_dir=args.val, holdout=0.1, scale=args.scale, patch_size=24 * args.scale
    )
    module = SRModule(net, optimizer=partial(torch.optim.Adam, lr=1e-4), channels_last=True)
    trainer = L.Trainer(
        max_epochs=args.epochs,
        precision=auto_precision(),  # bf16 only where the CPU/GPU computes it natively
        callbacks=[ExportWeights(args.out)],
        default_root_dir=args.out,
    )
    trainer.fit(module, datamodule=data)
    print(f"weights: {args.out}/best.safetensors")


if __name__ == "__main__":
    main()
