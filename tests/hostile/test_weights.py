"""Hostile weights (issue 17): the one card reader, the one loader, init_weights by name, resume files.

* a missing, duplicated, unreadable or incomplete weight card is an error naming the card and the fix,
  never a silent fall-back to random weights;
* weights holding NaN/inf are refused (named file and tensor), with an expert opt-out;
* ``init_weights=NAME`` resolves shipped weights, and a shard file says which set it belongs to;
* a resume checkpoint that is a pickle or a corrupt zip is one error line, and nothing in it runs.
"""

from __future__ import annotations

import json
import logging
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import srlib
from srlib import _package_weights
from srlib._cli import error_line
from srlib._package_weights import PackagedWeightsError, write_packaged
from srlib.models import (
    ALLOW_NONFINITE_ENV,
    NonFiniteWeightsError,
    WeightFileError,
    check_resume_checkpoint,
    load_discriminator_weights,
    load_model,
    load_state_dict,
    load_weights,
    resolve_init_weights,
    resolve_model,
)
from srlib.upscale import main as upscale_main


@pytest.fixture(autouse=True)
def _no_opt_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_NONFINITE_ENV, raising=False)


def _image(path: Path, size: int = 12) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.arange(size * size * 3) % 251).astype(np.uint8).reshape(size, size, 3)).save(path)
    return path


def _one_line(err: BaseException) -> str:
    line = error_line(err)
    assert line is not None and "\n" not in line, line
    return line


# --- the card reader ---------------------------------------------------------------------------------


def test_a_missing_card_is_an_error_not_random_weights(weights_copy: Path) -> None:
    (weights_copy / "fsrcnn_x2.json").unlink()
    with pytest.raises(
        PackagedWeightsError, match=r"fsrcnn_x2.safetensors has no weight card.*fsrcnn_x2.json"
    ):
        resolve_model("fsrcnn", scale=2)
    (weights_copy / "edsr_baseline_x3.json").unlink()  # a sharded set: named by its card's name
    (weights_copy / "fsrcnn_x2.safetensors").unlink()
    with pytest.raises(PackagedWeightsError, match=r"edsr_baseline_x3-00001-of-00002.*edsr_baseline_x3.json"):
        resolve_model("fsrcnn", scale=3)


def test_a_duplicated_card_is_an_error_naming_both(weights_copy: Path) -> None:
    shutil.copy(weights_copy / "fsrcnn_x2.json", weights_copy / "fsrcnn_x2_copy.json")
    with pytest.raises(PackagedWeightsError) as info:
        resolve_model("fsrcnn", scale=2)
    line = _one_line(info.value)
    assert "fsrcnn_x2.json" in line and "fsrcnn_x2_copy.json" in line and "both describe fsrcnn x2" in line


def test_an_unreadable_card_even_an_unrelated_one_is_an_error_not_random_weights(weights_copy: Path) -> None:
    card = weights_copy / "edsr_baseline_x4.json"
    card.write_text(card.read_text()[:200])  # truncated JSON
    with pytest.raises(
        PackagedWeightsError, match=r"weight card .*edsr_baseline_x4.json is broken.*reinstall"
    ):
        resolve_model("fsrcnn", scale=2)  # another architecture: still loud, never untrained
    card.unlink()
    card.mkdir()  # unreadable even as root: a folder where the card should be
    with pytest.raises(PackagedWeightsError, match=r"edsr_baseline_x4.json is broken: it cannot be read"):
        srlib.create_model("fsrcnn", scale=2, pretrained=True)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda c: c["files"][0].pop("file"), "entry 1 of 'files' has no 'file' name"),
        (lambda c: c["files"][0].update(file="../../etc/passwd"), "not a .safetensors file beside the card"),
        (lambda c: c["files"][0].update(sha256="abc"), "no valid 'sha256'"),
        (lambda c: c.update(scale="two"), "'scale' is 'two'"),
        (lambda c: c.pop("arch"), "it lacks arch"),
        (lambda c: c.update(files={}), "it lacks files"),
    ],
)
def test_a_card_entry_without_file_or_with_bad_fields_is_a_clear_error(
    weights_copy: Path, change, says
) -> None:
    card = weights_copy / "fsrcnn_x3.json"
    data = json.loads(card.read_text())
    change(data)
    card.write_text(json.dumps(data))
    with pytest.raises(PackagedWeightsError) as info:
        resolve_model("fsrcnn", scale=3)
    assert says in str(info.value) and "fsrcnn_x3.json" in str(info.value)


def test_the_cli_with_a_broken_card_is_one_error_line_exit_2_and_writes_nothing(
    weights_copy: Path, tmp_path: Path, capsys
) -> None:
    (weights_copy / "fsrcnn_x2.json").unlink()
    out = tmp_path / "out.png"
    assert (
        upscale_main([str(_image(tmp_path / "in.png")), str(out), "--model", "fsrcnn", "--scale", "2"]) == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "fsrcnn_x2.json" in err[0], err
    assert not out.exists()


def test_only_no_shipped_weights_falls_back_to_untrained_with_an_info_line(
    weights_copy: Path, caplog
) -> None:
    with caplog.at_level(logging.INFO, logger="srlib"):
        net = resolve_model("vdsr", scale=2)  # srlib ships no VDSR weights: untrained, and says so
    assert not hasattr(net, "srlib_pretrained")
    assert "vdsr x2: srlib ships no pretrained weights for it, so it is built untrained" in caplog.text
    assert resolve_model("fsrcnn", scale=4).srlib_pretrained == "fsrcnn_x4"  # healthy cards still load


# --- non-finite weights ------------------------------------------------------------------------------


def _poisoned(tmp_path: Path, value: float) -> tuple[Path, torch.nn.Module]:
    net = srlib.create_model("vdsr", scale=2, depth=2, num_feat=4)
    with torch.no_grad():
        next(iter(net.parameters())).view(-1)[1] = value
    return srlib.save_model(net, tmp_path / "diverged"), net


def test_nonfinite_weights_are_refused_by_load_model_naming_file_and_tensor(tmp_path, monkeypatch) -> None:
    path, net = _poisoned(tmp_path, float("nan"))
    name = next(iter(net.state_dict()))
    with pytest.raises(NonFiniteWeightsError) as info:
        load_model(path)
    line = _one_line(info.value)
    assert str(path) in line and repr(name) in line and "1 NaN" in line and "allow_nonfinite=True" in line
    assert torch.isnan(next(load_model(path, allow_nonfinite=True).parameters())).any()  # the expert opt-out
    monkeypatch.setenv(ALLOW_NONFINITE_ENV, "1")
    assert load_model(path) is not None
    monkeypatch.setenv(ALLOW_NONFINITE_ENV, "0")
    with pytest.raises(NonFiniteWeightsError):
        load_model(path)


def test_nonfinite_weights_are_refused_by_load_weights_and_load_state_dict(tmp_path) -> None:
    path, net = _poisoned(tmp_path, float("inf"))
    pth = tmp_path / "diverged.pth"
    torch.save(net.state_dict(), pth)
    fresh = srlib.create_model("vdsr", scale=2, depth=2, num_feat=4)
    for call in (
        lambda: load_state_dict(pth),
        lambda: load_weights(fresh, path),
        lambda: load_weights(fresh, net.state_dict()),
        lambda: resolve_model("vdsr", scale=2, weights=str(pth)),
    ):
        with pytest.raises(NonFiniteWeightsError, match=r"holds 0 NaN and 1 infinite"):
            call()
    assert torch.isinf(load_state_dict(pth, allow_nonfinite=True)[next(iter(net.state_dict()))]).any()
    disc = srlib.models.create_discriminator("vgg_discriminator", num_feat=4, input_size=32)
    state = {k: v.clone() for k, v in disc.state_dict().items()}
    next(v for v in state.values() if v.is_floating_point()).view(-1)[0] = float("nan")
    with pytest.raises(NonFiniteWeightsError, match="the state dict"):
        load_discriminator_weights(disc, state)


def test_nonfinite_shipped_weights_are_refused(weights_copy: Path) -> None:
    entry = _package_weights.find_packaged("sr", "fsrcnn", scale=2)
    state, metadata = entry.read()
    key = sorted(state)[0]
    state[key] = state[key].clone()
    state[key].view(-1)[0] = float("nan")
    card = dict(entry.card, files=write_packaged(state, metadata, "fsrcnn_x2", directory=weights_copy))
    (weights_copy / "fsrcnn_x2.json").write_text(json.dumps(card))
    _package_weights._all_cards.cache_clear()
    with pytest.raises(NonFiniteWeightsError, match=rf"fsrcnn_x2.safetensors: tensor {key!r}"):
        srlib.create_model("fsrcnn", scale=2, pretrained=True)


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast")  # NaN pixels, as asked
def test_the_cli_refuses_nonfinite_weights_in_one_line_and_the_env_opts_out(
    tmp_path, capsys, monkeypatch
) -> None:
    path, _ = _poisoned(tmp_path, float("nan"))
    image, out = _image(tmp_path / "in.png"), tmp_path / "out.png"
    assert upscale_main([str(image), str(out), "--model", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "non-finite" not in err[0] and "1 NaN" in err[0] and str(path) in err[0], err
    assert not out.exists()
    monkeypatch.setenv(ALLOW_NONFINITE_ENV, "1")
    assert upscale_main([str(image), str(out), "--model", str(path)]) == 0
    assert out.is_file()


# --- init_weights by name ----------------------------------------------------------------------------


def test_init_weights_by_a_shipped_name_or_name_tag_gives_the_shipped_network() -> None:
    edsr = resolve_init_weights("edsr_baseline", scale=3)
    assert edsr.srlib_pretrained == "edsr_baseline_x3" and edsr.scale == 3
    gan = resolve_init_weights("srvgg_compact.gan", scale=4)
    assert gan.srlib_pretrained == "srvgg_compact_x4_gan" and gan.srlib_tag == "gan"


def test_init_weights_that_does_not_ship_lists_what_ships_and_that_a_path_works(tmp_path) -> None:
    for spec, says in (
        ("edsr_baseline", "ships no weights for edsr_baseline x8"),
        ("vdsr", "ships no weights for vdsr x8"),
        ("no_such_model", "neither a weights file nor a model name"),
        (str(tmp_path / "missing.safetensors"), "missing.safetensors does not exist"),
        ("", "init_weights is empty"),
    ):
        with pytest.raises(ValueError) as info:
            resolve_init_weights(spec, scale=8)
        line = _one_line(info.value)
        assert says in line, line
        assert (
            "edsr_baseline x2, x3, x4" in line and "srvgg_compact.gan x4" in line and "weights file" in line
        )


def test_init_weights_as_a_path_loads_the_file(tmp_path) -> None:
    path = srlib.save_model(srlib.create_model("vdsr", scale=3, depth=2, num_feat=4), tmp_path / "mine")
    net = resolve_init_weights(str(path), scale=3)
    assert net.scale == 3 and srlib.models._registry.registered_name(net) == "vdsr"


def test_init_weights_pointing_at_a_shipped_shard_names_the_set() -> None:
    shard = _package_weights.WEIGHTS_DIR / "edsr_baseline_x2-00001-of-00002.safetensors"
    for call in (lambda: resolve_init_weights(str(shard), scale=2), lambda: load_model(shard)):
        with pytest.raises(WeightFileError) as info:
            call()
        line = _one_line(info.value)
        assert "is shard 1 of 2 of the weight set edsr_baseline_x2" in line and "damaged" not in line
        assert "init_weights=edsr_baseline" in line and "pretrained=True" in line


def test_a_users_own_shard_without_a_card_says_to_load_all_shards(tmp_path) -> None:
    net = srlib.create_model("vdsr", scale=2, depth=2, num_feat=4)
    half = dict(list(net.state_dict().items())[:2])
    from srlib.models._state_io import write_state_dict

    path = tmp_path / "mine-00001-of-00003.safetensors"
    with path.open("wb") as f:
        write_state_dict(f, half, {"format": "srlib", "arch": "vdsr", "kwargs": json.dumps(net.srlib_config)})
    with pytest.raises(WeightFileError, match=r"shard 1 of 3 of the weight set mine.*load all 3 shards"):
        load_model(path)


# --- resume checkpoints ------------------------------------------------------------------------------


def _lightning_checkpoint(path: Path) -> Path:
    """A real checkpoint written by this Lightning version (one step of a tiny module)."""
    import lightning as L

    class Tiny(L.LightningModule):
        def __init__(self, lr: float = 0.1) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch, index):
            return self.layer(batch[0]).mean()

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)

    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.rand(4, 2)), batch_size=2)
    trainer = L.Trainer(
        max_steps=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        accelerator="cpu",
        default_root_dir=str(path.parent),
    )
    trainer.fit(Tiny(), data)
    trainer.save_checkpoint(path)
    return path


def test_a_real_lightning_checkpoint_passes_the_resume_check(tmp_path) -> None:
    assert check_resume_checkpoint(_lightning_checkpoint(tmp_path / "last.ckpt")) == 1  # its one step


def test_resume_from_a_pickle_is_one_clear_error_and_runs_nothing(tmp_path) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))  # would create the marker if unpickled

    raw = tmp_path / "raw.ckpt"
    raw.write_bytes(pickle.dumps({"state_dict": {}, "global_step": 1, "x": Payload()}))
    legacy = tmp_path / "legacy.ckpt"
    torch.save({"state_dict": {}, "global_step": 1}, legacy, _use_new_zipfile_serialization=False)
    for path in (raw, legacy):
        with pytest.raises(ValueError) as info:
            check_resume_checkpoint(path)
        line = _one_line(info.value)
        assert f"{path} is not a usable Lightning checkpoint (not a torch zip archive" in line
        assert "start a new run" in line
    zipped = tmp_path / "zipped.ckpt"
    torch.save({"state_dict": {}, "global_step": 1, "pytorch-lightning_version": "2", "x": Payload()}, zipped)
    with pytest.raises(
        ValueError, match=r"zipped.ckpt .*pickled Python objects that a weights-only load refuses"
    ):
        check_resume_checkpoint(zipped)
    assert not marker.exists()  # nothing in the files was executed


def test_resume_from_a_corrupt_zip_is_one_clear_error(tmp_path) -> None:
    good = _lightning_checkpoint(tmp_path / "good.ckpt")
    data = good.read_bytes()
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut.ckpt is not a usable Lightning checkpoint \(not a torch zip"):
        check_resume_checkpoint(cut)
    with zipfile.ZipFile(good) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith("data.pkl"))
    local = info.header_offset  # the local header's own name and extra lengths (torch pads the extra)
    start = local + 30 + int.from_bytes(data[local + 26 : local + 28], "little")
    start += int.from_bytes(data[local + 28 : local + 30], "little")
    flipped = bytearray(data)
    flipped[start + 5] ^= 0xFF  # one byte inside the pickled record
    bad_crc = tmp_path / "flipped.ckpt"
    bad_crc.write_bytes(bytes(flipped))
    with pytest.raises(ValueError) as err:
        check_resume_checkpoint(bad_crc)
    assert "data.pkl fails its CRC check" in _one_line(err.value)
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="it is empty"):
        check_resume_checkpoint(empty)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        check_resume_checkpoint(tmp_path / "none.ckpt")


def test_a_torch_file_that_is_not_a_lightning_checkpoint_is_refused(tmp_path) -> None:
    weights = tmp_path / "weights.ckpt"
    torch.save({"conv.weight": torch.zeros(2)}, weights)
    with pytest.raises(ValueError, match=r"without Lightning's state_dict, global_step"):
        check_resume_checkpoint(weights)
    tensor = tmp_path / "tensor.ckpt"
    torch.save(torch.zeros(2), tensor)
    with pytest.raises(ValueError, match="holding a Tensor, not a checkpoint"):
        check_resume_checkpoint(tensor)
