"""Issue 17, config that refuses what it cannot honour: each case as a test."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from srlib.lit.recipes import RecipeError, check_recipe
from srlib.lit.recipes import logger_nodes as _logger_nodes
from srlib.train import compose_recipe, main, train
from tests.conftest import TINY_TRAIN


def test_unknown_callbacks_key_is_an_error_naming_it(capsys, tmp_path) -> None:
    assert main([*TINY_TRAIN, "+callbacks.early_stop_patience=3", f"output_dir={tmp_path / 'o'}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: callbacks.early_stop_patience is not a setting") and "_target_" in err


def test_misspelt_callbacks_setting_suggests_the_right_one() -> None:
    cfg = compose_recipe([*TINY_TRAIN, "+callbacks.ema_decy=0.9"])
    with pytest.raises(RecipeError, match=r"Did you mean callbacks\.ema_decay"):
        check_recipe(cfg)


def test_callback_given_by_target_is_honoured(tmp_path) -> None:
    run = tmp_path / "run"
    train(
        compose_recipe(
            [
                *TINY_TRAIN,
                "+callbacks.lr_monitor._target_=lightning.pytorch.callbacks.LearningRateMonitor",
                "+callbacks.lr_monitor.logging_interval=step",
                "trainer.log_every_n_steps=1",
                f"output_dir={run}",
            ]
        )
    )
    header = next(csv.reader((run / "logs" / "metrics.csv").open()))
    assert any(column.startswith("lr-") for column in header)


def test_several_loggers_as_a_mapping_of_nodes_and_bad_logger_keys() -> None:
    nodes = OmegaConf.create(
        {"logger": {"a": {"_target_": "srlib.lit.loggers.CSVLogger"}, "b": {"_target_": "x.Y"}}}
    )
    assert [str(n._target_) for n in _logger_nodes(nodes)] == ["srlib.lit.loggers.CSVLogger", "x.Y"]
    with pytest.raises(RecipeError, match=r"logger\.flush_secs is neither"):
        _logger_nodes(OmegaConf.create({"logger": {"flush_secs": 3}}))


def test_hydra_run_dir_becomes_output_dir_and_other_hydra_keys_are_refused(tmp_path) -> None:
    cfg = compose_recipe([*TINY_TRAIN, f"hydra.run.dir={tmp_path / 'here'}"])
    assert cfg.output_dir == str(tmp_path / "here")
    with pytest.raises(RecipeError, match=r"hydra.job.chdir is a setting of Hydra's own launcher"):
        compose_recipe(["hydra.job.chdir=true"])


def test_user_recipe_without_the_package_header_is_read_as_global(tmp_path) -> None:
    recipe = tmp_path / "mine.yaml"
    recipe.write_text("name: mine\nscale: 3\nmodel:\n  depth: 3\n")
    cfg = compose_recipe([f"recipe={recipe}"])
    assert cfg.name == "mine" and cfg.scale == 3 and cfg.model.depth == 3 and "recipe" not in cfg
    assert recipe.read_text().startswith("name: mine")  # the user's file is untouched


def test_one_bad_key_among_good_ones_blames_the_bad_key_only(tmp_path, capsys) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    code = main(
        ["data=folder", f"data.train_dir={photos}", "data.pach_size=32", f"output_dir={tmp_path / 'o'}"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "unknown key 'data.pach_size'" in err and "Did you mean data.patch_size" in err
    assert "'data.train_dir'" not in err


def test_trainer_argument_outside_the_recipe_says_how_to_add_it(capsys) -> None:
    assert main(["trainer.limit_val_batches=0"]) == 2
    assert "+trainer.limit_val_batches=..." in capsys.readouterr().err


def test_small_photos_error_uses_the_command_line_spelling(tmp_path, capsys) -> None:
    from tests.hostile.test_training import _photos

    photos = _photos(tmp_path / "p", 3, size=40)
    code = main(
        ["data=folder", f"data.train_dir={photos}", "data.patch_size=64", f"output_dir={tmp_path / 'o'}"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "data.skip_small=true" in err and "data.patch_size=N" in err and "skip_small=True to" not in err


def test_unwritable_recipe_path_is_refused(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        compose_recipe([f"recipe={Path(tmp_path) / 'missing.yaml'}"])
