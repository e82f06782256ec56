"""Upscale every image in a folder with a trained model (or a registered baseline).

python examples/upscale_folder.py IN_DIR OUT_DIR --model best.safetensors --scale 2 [--dtype auto]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import srlib
from srlib.data import list_images, read_image, write_image
from srlib.models import resolve_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--model", required=True, help="registered name or weight file")
    parser.add_argument("--scale", type=int, required=True)
    parser.add_argument("--dtype", default="auto", choices=["auto", "bf16", "fp16", "fp32"])
    args = parser.parse_args()

    net = resolve_model(args.model, scale=args.scale)
    for path in list_images(args.input):
        sr = srlib.upscale(read_image(path, channels="keep"), net, dtype=args.dtype)
        print(write_image(args.output / f"{path.stem}.png", sr))


if __name__ == "__main__":
    main()
