"""Maintainers' tool: turn a trained run's weights into files shipped in ``srlib/weights/``, with a card.

    python tools/pack_pretrained.py WEIGHTS NAME --recipe R --stages stages.json \
        --data-note "T91 (90 of 91 images)" --reference "FSRCNN (paper)" --ref Set5=37.00 --ref Set14=32.63

It scores the weights on Set5 and Set14 at their scale with the standard protocol (fp32 inference), in
fp32 and rounded to fp16, and stores fp16 only when that costs under 0.01 dB on both sets (else fp32).
The card (``NAME.json``) gets the scores beside bicubic's, the Set5 margin over bicubic that the test
suite holds the file to, the stages (command, steps, minutes) and the machine. ``--docs`` rewrites
``docs/pretrained.md`` from all the cards.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

import torch
from safetensors import safe_open

import srlib
from srlib._package_weights import WEIGHTS_DIR, list_packaged, write_packaged
from srlib.evaluation import device_name, evaluate_folder

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SETS = ("Set5", "Set14")
MAX_FP16_COST_DB = 0.01


def _scores(net: torch.nn.Module, scale: int) -> dict[str, dict[str, float]]:
    out = {}
    for name in SETS:
        result = evaluate_folder(net, DATA / name, scale, dtype="fp32")
        out[name] = {"psnr": round(result.psnr, 4), "ssim": round(result.ssim, 4)}
    return out


def _fp16_copy(net: torch.nn.Module) -> torch.nn.Module:
    """The same network with every floating tensor rounded through fp16 (what an fp16 file gives)."""
    rounded = srlib.create_model(srlib.models._registry.registered_name(net), **net.srlib_config)
    state = {k: (v.half().float() if v.is_floating_point() else v) for k, v in net.state_dict().items()}
    rounded.load_state_dict(state)
    return rounded.eval()


def pack(args: argparse.Namespace) -> Path:
    net = srlib.load_model(args.weights).eval()
    arch = srlib.models._registry.registered_name(net)
    scale = int(net.scale)
    if args.tag:
        net.srlib_tag = args.tag
    fp32 = _scores(net, scale)
    fp16 = _scores(_fp16_copy(net), scale)
    bicubic = _scores(srlib.create_model("bicubic", scale=scale), scale)
    cost = {s: round(fp32[s]["psnr"] - fp16[s]["psnr"], 4) for s in SETS}
    storage = "fp16" if all(abs(c) < MAX_FP16_COST_DB for c in cost.values()) else "fp32"
    shipped = fp16 if storage == "fp16" else fp32
    if storage == "fp16":
        net = _fp16_copy(net).half()
        net.srlib_tag = args.tag
    with tempfile.TemporaryDirectory() as folder:  # save_model writes the srlib metadata
        with safe_open(str(srlib.save_model(net, Path(folder) / "w")), framework="pt") as saved:
            metadata, state = saved.metadata(), {k: saved.get_tensor(k) for k in saved.keys()}  # noqa: SIM118
    files = write_packaged(state, metadata, args.name)
    stages = json.loads(Path(args.stages).read_text())
    card = {
        "kind": "sr",
        "arch": arch,
        "scale": scale,
        "tag": args.tag,
        "files": files,
        "bytes": sum((WEIGHTS_DIR / item["file"]).stat().st_size for item in files),
        "params": sum(p.numel() for p in net.parameters()),
        "config": net.srlib_config,
        "storage": storage,
        "storage_cost_db": cost,
        "recipe": args.recipe,
        "stages": stages,
        "minutes": round(sum(s["minutes"] for s in stages), 1),
        "data": args.data_note,
        "machine": args.machine or device_name("cpu"),
        "scores": {
            s: {**shipped[s], "bicubic_psnr": bicubic[s]["psnr"], "bicubic_ssim": bicubic[s]["ssim"]}
            for s in SETS
        },
        # What the test suite holds the file to (minus 0.05 dB): the Set5 gain over bicubic, rounded down.
        "set5_margin_db": math.floor((shipped["Set5"]["psnr"] - bicubic["Set5"]["psnr"]) * 100) / 100,
        "reference": {"name": args.reference, **{k: float(v) for k, v in (r.split("=") for r in args.ref)}},
        "lpips": None,
        "notes": args.note,
    }
    (WEIGHTS_DIR / f"{args.name}.json").write_text(json.dumps(card, indent=2) + "\n")
    shown = ("files", "bytes", "storage", "storage_cost_db", "scores")
    print(json.dumps({k: card[k] for k in shown}, indent=1))
    return WEIGHTS_DIR / files[0]["file"]


def _db(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def docs() -> Path:
    """``docs/pretrained.md``'s card section, from every SR card."""
    lines = []
    for entry in list_packaged("sr"):
        c = entry.card
        s5, s14 = c["scores"]["Set5"], c["scores"]["Set14"]
        ref = c["reference"]
        lines += [
            f"### `{c['arch']}` x{c['scale']}" + (f' (`pretrained="{c["tag"]}"`)' if c["tag"] else ""),
            "",
            f"- Files: {', '.join('`srlib/weights/' + item['file'] + '`' for item in c['files'])}, "
            f"{c['bytes'] / 1e6:.2f} MB, {c['params']:,} parameters, "
            f"stored {c['storage']} (cost: Set5 {c['storage_cost_db']['Set5']:+.4f} dB, "
            f"Set14 {c['storage_cost_db']['Set14']:+.4f} dB).",
            f"- Recipe: `{c['recipe']}`; data: {c['data']}.",
            f"- Machine: {c['machine']}; {c['minutes']} min of training in all.",
            "",
            "| stage | command | steps | minutes |",
            "|---|---|---|---|",
            *[
                f"| {i + 1} | `{st['command']}` | {st['steps']:,} | {st['minutes']} |"
                for i, st in enumerate(c["stages"])
            ],
            "",
            f"| Y-PSNR / SSIM, x{c['scale']} | Set5 | Set14 |",
            "|---|---|---|",
            f"| this file | {s5['psnr']:.2f} / {s5['ssim']:.4f} | {s14['psnr']:.2f} / {s14['ssim']:.4f} |",
            f"| bicubic (measured) | {s5['bicubic_psnr']:.2f} / {s5['bicubic_ssim']:.4f} | "
            f"{s14['bicubic_psnr']:.2f} / {s14['bicubic_ssim']:.4f} |",
            f"| {ref['name']}, published | {_db(ref.get('Set5'))} | {_db(ref.get('Set14'))} |",
            "",
            f"Set5 margin over bicubic held by the test suite: {c['set5_margin_db']:+.2f} dB (minus 0.05)."
            + (f" {c['notes']}" if c.get("notes") else ""),
            "",
        ]
    page = ROOT / "docs" / "pretrained.md"
    text = page.read_text()
    start, end = "<!-- cards:start -->", "<!-- cards:end -->"
    head, _, rest = text.partition(start)
    _, _, tail = rest.partition(end)
    page.write_text(f"{head}{start}\n\n" + "\n".join(lines) + f"\n{end}{tail}")
    return page


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("weights", nargs="?")
    parser.add_argument("name", nargs="?")
    parser.add_argument("--tag", default=None)
    parser.add_argument("--recipe")
    parser.add_argument("--stages", help="JSON list of {command, steps, minutes}")
    parser.add_argument("--data-note", default="T91")
    parser.add_argument("--machine", default=None)
    parser.add_argument("--reference", default="")
    parser.add_argument("--ref", action="append", default=[], help="SET=PSNR of the published reference")
    parser.add_argument("--note", default="")
    parser.add_argument("--docs", action="store_true", help="rewrite docs/pretrained.md from the cards")
    args = parser.parse_args()
    if args.weights:
        pack(args)
    if args.docs:
        print(docs())


if __name__ == "__main__":
    main()
