"""srlib's shipped weights: every file loads offline, matches its card, and scores what its card claims."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
import torch

import srlib
from srlib import _package_weights
from srlib._package_weights import PackagedWeights, PackagedWeightsError, list_packaged
from srlib.evaluation import evaluate_folder
from tests.conftest import shared_path

SR_WEIGHTS = list_packaged("sr")
IDS = [entry.name for entry in SR_WEIGHTS]
#: The wheel's budget for shipped SR weights (issue 10): 10 MB in all.
MAX_SR_BYTES = 10_000_000


def test_the_issue_s_weight_sets_ship() -> None:
    shipped = {(e.arch, e.scale, e.tag) for e in SR_WEIGHTS}
    for scale in (2, 3, 4):
        assert ("fsrcnn", scale, None) in shipped  # the fast model
        assert ("edsr_baseline", scale, None) in shipped  # the stronger small one
    assert ("srvgg_compact", 4, "gan") in shipped  # the GAN-trained x4 model


def test_shipped_sr_weights_fit_the_wheel_budget() -> None:
    total = sum(file.stat().st_size for entry in SR_WEIGHTS for file in entry.files)
    assert total <= MAX_SR_BYTES, f"{total / 1e6:.2f} MB of SR weights ship; the budget is 10 MB"


@pytest.mark.parametrize("entry", SR_WEIGHTS, ids=IDS)
def test_each_file_loads_and_matches_its_card(entry: PackagedWeights) -> None:
    assert all(file.stat().st_size <= _package_weights.MAX_SHARD_BYTES for file in entry.files)
    net = srlib.create_model(entry.arch, scale=entry.scale, pretrained=entry.tag or True)
    assert srlib.models._registry.registered_name(net) == entry.arch
    assert net.scale == entry.scale and net.srlib_tag == entry.tag
    assert net.srlib_config == entry.card["config"]
    assert sum(p.numel() for p in net.parameters()) == entry.card["params"]
    assert all(p.dtype == torch.float32 for p in net.parameters())  # fp16 storage, fp32 use
    assert not net.training


@pytest.mark.parametrize("entry", SR_WEIGHTS, ids=IDS)
def test_each_file_beats_bicubic_on_set5_by_its_card_s_margin(entry: PackagedWeights) -> None:
    set5 = shared_path("data", "Set5")
    net = srlib.create_model(entry.arch, scale=entry.scale, pretrained=entry.tag or True)
    model = evaluate_folder(net, set5, entry.scale, dtype="fp32").psnr
    bicubic = evaluate_folder(srlib.create_model("bicubic", scale=entry.scale), set5, entry.scale).psnr
    assert model - bicubic >= entry.card["set5_margin_db"] - 0.05
    assert model == pytest.approx(entry.card["scores"]["Set5"]["psnr"], abs=0.02)


def test_the_fast_and_strong_models_beat_bicubic_on_photos_shipped_with_scikit_image() -> None:
    """Runs without ../shared: the x4 models on two scikit-image photos, against bicubic."""
    from skimage import data as photos

    from srlib.metrics.protocol import protocol_lr, protocol_scores

    for arch in ("fsrcnn", "edsr_baseline"):
        net = srlib.create_model(arch, scale=4, pretrained=True)
        gains = []
        for photo in (photos.astronaut(), photos.coffee()):
            hr_uint8 = torch.from_numpy(photo).permute(2, 0, 1)[None, :, :256, :256].contiguous()
            lr, hr = protocol_lr(hr_uint8, 4), hr_uint8.float() / 255
            with torch.inference_mode():
                sr = net(lr)
                up = srlib.create_model("bicubic", scale=4)(lr)
            model_db = protocol_scores(sr, hr, crop_border=4)[0]
            gains.append(float(model_db - protocol_scores(up, hr, crop_border=4)[0]))
        assert min(gains) > 0.3, (arch, gains)


def test_a_tag_in_the_name_or_the_argument_picks_the_gan_weights() -> None:
    by_name = srlib.create_model("srvgg_compact.gan", scale=4, pretrained=True)
    by_tag = srlib.create_model("srvgg_compact", scale=4, pretrained="gan")
    assert by_name.srlib_pretrained == by_tag.srlib_pretrained == "srvgg_compact_x4_gan"


def test_no_weights_for_that_scale_or_tag_lists_what_ships() -> None:
    with pytest.raises(PackagedWeightsError, match=r"fsrcnn x1.*ships: fsrcnn x2, fsrcnn x3, fsrcnn x4"):
        srlib.create_model("fsrcnn", scale=1, pretrained=True)
    with pytest.raises(PackagedWeightsError, match=r"pretrained weights ship for: .*edsr_baseline"):
        srlib.create_model("vdsr", scale=2, pretrained=True)
    with pytest.raises(PackagedWeightsError, match=r"srvgg_compact x4 \(pretrained='gan'\)"):
        srlib.create_model("srvgg_compact", scale=4, pretrained=True)  # a tagged set is never the default
    with pytest.raises(ValueError, match="no weight tag 'l2'"):
        srlib.create_model("srvgg_compact.l2", scale=4, pretrained=True)


def test_other_architecture_arguments_with_pretrained_are_refused() -> None:
    with pytest.raises(PackagedWeightsError, match="shipped configuration"):
        srlib.create_model("edsr_baseline", scale=2, pretrained=True, num_blocks=4)
    net = srlib.create_model("fsrcnn", scale=2, pretrained=True, in_chans=1)  # the shipped value is fine
    assert net.srlib_pretrained == "fsrcnn_x2"


def test_a_damaged_file_is_named_with_the_fix(weights_copy: Path) -> None:
    file = weights_copy / "fsrcnn_x4.safetensors"
    data = bytearray(file.read_bytes())
    data[-10] ^= 0xFF
    file.write_bytes(bytes(data))
    with pytest.raises(PackagedWeightsError, match=r"fsrcnn_x4.safetensors is damaged.*force-reinstall"):
        srlib.create_model("fsrcnn", scale=4, pretrained=True)


def test_a_missing_file_is_named_with_the_fix(weights_copy: Path) -> None:
    (weights_copy / "fsrcnn_x3.safetensors").unlink()
    with pytest.raises(PackagedWeightsError, match=r"fsrcnn_x3.safetensors is missing.*reinstall"):
        srlib.create_model("fsrcnn", scale=3, pretrained=True)


def test_a_card_that_lies_about_the_file_is_caught(weights_copy: Path) -> None:
    card = weights_copy / "fsrcnn_x2.json"
    data = json.loads(card.read_text())
    shutil.copy(weights_copy / "fsrcnn_x3.safetensors", weights_copy / "fsrcnn_x2.safetensors")
    data["files"] = json.loads((weights_copy / "fsrcnn_x3.json").read_text())["files"]
    data["files"][0]["file"] = "fsrcnn_x2.safetensors"  # the x3 network under the x2 name, digest fixed
    card.write_text(json.dumps(data))
    _package_weights._all_cards.cache_clear()
    with pytest.raises(PackagedWeightsError, match="holds fsrcnn x3, but its card says fsrcnn x2"):
        srlib.create_model("fsrcnn", scale=2, pretrained=True)


def test_list_pretrained_gives_the_cards() -> None:
    entries = srlib.list_pretrained("edsr_baseline")
    assert [e.scale for e in entries] == [2, 3, 4]
    for entry in entries:
        assert {"recipe", "stages", "minutes", "machine", "scores", "set5_margin_db"} <= set(entry.card)


def test_resolve_model_uses_shipped_weights_for_a_bare_name(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="srlib"):
        net = srlib.models.resolve_model("edsr_baseline", scale=3)
    assert net.srlib_pretrained == "edsr_baseline_x3"
    assert "pretrained weights edsr_baseline_x3" in caplog.text
    untrained = srlib.models.resolve_model("edsr_baseline", scale=3, pretrained=False)
    assert not hasattr(untrained, "srlib_pretrained")
    assert not hasattr(srlib.models.resolve_model("vdsr", scale=2), "srlib_pretrained")  # none ship
    with pytest.raises(PackagedWeightsError):
        srlib.models.resolve_model("vdsr", scale=2, pretrained=True)
