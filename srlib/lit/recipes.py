"""Recipes: compose a config the way ``python -m srlib.train`` does, check it, expand sweeps.

Recipes are Hydra configs (the ``recipes/`` tree, shipped inside the package). ``recipe=`` takes a
built-in name (``quickstart``, ``fsrcnn_x4``, ``finetune``, ...) or the path of your own recipe file;
``recipes_dir=DIR`` adds your own recipe folder to Hydra's search path. Every check that can fail
before anything is built lives here: unknown keys (named, with close matches, in the command-line
spelling), text given for numbers, missing mandatory keys, settings srlib would otherwise ignore.
"""

from __future__ import annotations

import difflib
import importlib.util
import itertools
import logging
import tempfile
import types
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

__all__ = [
    "RecipeError",
    "check_recipe",
    "compose_recipe",
    "expand_sweep",
    "explain_build_error",
    "extra_callbacks",
    "list_recipes",
    "logger_nodes",
    "recipes_root",
]

log = logging.getLogger("srlib.train")

_PRECISIONS = (
    "auto",
    "32-true",
    "32",
    "bf16-mixed",
    "bf16",
    "16-mixed",
    "16",
    "bf16-true",
    "16-true",
    "64-true",
)
_INT_KEYS = ("trainer.max_steps", "trainer.max_epochs", "trainer.log_every_n_steps", "seed", "scale")


class RecipeError(ValueError):
    """A recipe or override that cannot run; the message names the key or file and the fix."""


# -- checks --------------------------------------------------------------------------------------
def check_recipe(cfg: DictConfig) -> None:
    """Fail on missing mandatory keys and wrongly typed values before anything is built or written."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise RecipeError(
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} required by this recipe; "
            f"add {' '.join(f'{k}=...' for k in missing)} to the command "
            f"(for example data.train_dir=/path/to/photos)."
        )
    absent = [str(k) for k in (cfg.get("requires") or []) if OmegaConf.select(cfg, str(k)) is None]
    if absent:
        raise RecipeError(
            f"recipe {cfg.get('name')} needs {' '.join(f'{k}=...' for k in absent)}"
            + (
                " (the weights to start from, e.g. the best.safetensors of the stage before)"
                if "init_weights" in absent
                else ""
            )
            + "."
        )
    for key in _INT_KEYS:
        value = OmegaConf.select(cfg, key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise RecipeError(f"{key} must be an integer, got {value!r} ({type(value).__name__}).")
    if cfg.get("gan") and OmegaConf.select(cfg, "trainer.gradient_clip_val"):
        raise RecipeError("GAN recipes clip with gan.grad_clip=...; set trainer.gradient_clip_val=null.")
    target = str(OmegaConf.select(cfg, "logger._target_") or "")
    if "TensorBoard" in target and not any(
        importlib.util.find_spec(m) for m in ("tensorboard", "tensorboardX")
    ):
        raise RecipeError("logger=tensorboard needs TensorBoard: pip install tensorboard, or use logger=csv.")
    precision = OmegaConf.select(cfg, "trainer.precision")
    if str(precision) not in _PRECISIONS:
        raise RecipeError(f"trainer.precision must be one of {', '.join(_PRECISIONS)}; got {precision!r}.")
    extra_callbacks(cfg)  # unknown callbacks keys fail here
    logger_nodes(cfg)
    patch = OmegaConf.select(cfg, "data.patch_size")
    if patch is not None and patch != "auto" and (not isinstance(patch, int) or isinstance(patch, bool)):
        raise RecipeError(f"data.patch_size must be an integer or auto, got {patch!r}.")
    val_every = OmegaConf.select(cfg, "callbacks.val_every_n_steps")
    if val_every not in (None, "auto") and (not isinstance(val_every, int) or val_every < 1):
        raise RecipeError(
            f"callbacks.val_every_n_steps must be auto, null or a positive integer, got {val_every!r}."
        )


#: The settings of the ``callbacks`` group that srlib reads itself; any other key is a callback node.
_CALLBACK_SETTINGS = ("monitor", "checkpoint_every_n_steps", "ema_decay", "val_every_n_steps")


def extra_callbacks(cfg: DictConfig) -> dict[str, Any]:
    """The user's own callbacks: ``callbacks.NAME`` nodes with a ``_target_`` (as lightning-hydra-template).

    ``python -m srlib.train +callbacks.lr_monitor._target_=lightning.pytorch.callbacks.LearningRateMonitor``
    adds one. Any other unknown key is an error (it would be ignored otherwise).
    """
    nodes = {}
    for key, value in (cfg.get("callbacks") or {}).items():
        if key in _CALLBACK_SETTINGS:
            continue
        if isinstance(value, DictConfig) and "_target_" in value:
            nodes[str(key)] = value
            continue
        close = difflib.get_close_matches(str(key), _CALLBACK_SETTINGS, n=1)
        hint = f" Did you mean callbacks.{close[0]}?" if close else ""
        raise RecipeError(
            f"callbacks.{key} is not a setting srlib reads ({', '.join(_CALLBACK_SETTINGS)}) and not a "
            f"callback node (a mapping with _target_).{hint} Add a callback with "
            f"+callbacks.{key}._target_=lightning.pytorch.callbacks.LearningRateMonitor, or remove it with "
            f"~callbacks.{key}."
        )
    return nodes


def logger_nodes(cfg: DictConfig) -> list[DictConfig]:
    """``logger``: one node with ``_target_``, a mapping of such nodes (several loggers), or none."""
    logger = cfg.get("logger")
    if not logger:
        return []
    if "_target_" in logger:
        return [logger]
    nodes = []
    for key, value in logger.items():
        if not (isinstance(value, DictConfig) and "_target_" in value):
            raise RecipeError(
                f"logger.{key} is neither a logger setting nor a logger node with _target_; pick a logger "
                "group (logger=csv, logger=tensorboard, logger=none) or give several as "
                "logger.NAME._target_=... nodes."
            )
        nodes.append(value)
    return nodes


_SPECIAL_KEYS = ("recipe", "recipes_dir")


def recipes_root() -> Path:
    """The built-in recipe tree (package data in a wheel, ``recipes/`` in a checkout)."""
    packaged = Path(str(resources.files("srlib") / "recipes"))
    if (packaged / "train.yaml").is_file():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "recipes"
    if (checkout / "train.yaml").is_file():
        return checkout
    raise FileNotFoundError(
        f"srlib's recipes are missing (looked in {packaged} and {checkout}); reinstall srlib."
    )


def list_recipes(recipes_dir: str | Path | None = None) -> list[str]:
    """Names accepted by ``recipe=`` (built-in, plus those in ``recipes_dir``)."""
    folders = [recipes_root() / "recipe"]
    if recipes_dir is not None:
        folders.append(_user_recipe_folder(Path(recipes_dir).expanduser()))
    return sorted({p.stem for folder in folders if folder.is_dir() for p in folder.glob("*.yaml")})


def _user_recipe_folder(folder: Path) -> Path:
    if not folder.is_dir():
        raise FileNotFoundError(f"recipes_dir {folder} does not exist.")
    return folder / "recipe" if (folder / "recipe").is_dir() else folder


@contextmanager
def _search_path(recipe: str, recipes_dir: str | None) -> Iterator[tuple[list[str], str]]:
    """Hydra search-path entries for the user's recipe folder/file, and the recipe's name.

    A folder laid out like ``recipes/`` (with ``recipe/``, ``model/``, ... groups) joins as it is. A flat
    folder of recipe files, or a single recipe file, is exposed as a ``recipe/`` group through links in
    a temporary folder: the built-in tree is never copied.
    """
    with tempfile.TemporaryDirectory(prefix="srlib-recipes-") as tmp:
        entries: list[str] = []
        extra = Path(tmp) / "recipe"
        extra.mkdir()
        if recipes_dir is not None:
            user = Path(recipes_dir).expanduser().resolve()
            if not user.is_dir():
                raise FileNotFoundError(f"recipes_dir {user} does not exist.")
            if (user / "recipe").is_dir() or (user / "train.yaml").is_file():
                entries.append(f"file://{user}")
            else:
                for file in user.glob("*.yaml"):
                    _expose_recipe(file, extra / file.name)
        name = recipe
        as_path = Path(recipe).expanduser()
        if recipe.endswith((".yaml", ".yml")) or as_path.is_file():
            if not as_path.is_file():
                raise FileNotFoundError(f"Recipe file {as_path} does not exist.")
            name = as_path.stem
            link = extra / f"{name}.yaml"
            link.unlink(missing_ok=True)
            _expose_recipe(as_path.resolve(), link)
        if any(extra.iterdir()):
            entries.insert(0, f"file://{tmp}")
        available = set(list_recipes()) | {p.stem for p in extra.glob("*.yaml")}
        if recipes_dir is not None:
            available |= set(list_recipes(recipes_dir))
        if name not in available:
            close = difflib.get_close_matches(name, sorted(available), n=3, cutoff=0.4)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise RecipeError(
                f"Unknown recipe {name!r}.{hint} Available: {', '.join(sorted(available))}. "
                "A path to your own .yaml recipe works too."
            )
        yield entries, name


_PACKAGE_HEADER = "# @package _global_"


def _expose_recipe(file: Path, link: Path) -> None:
    """Make a user's recipe file visible as ``recipe/NAME``: a link, or a copy with the package header.

    A recipe sets top-level keys (``model``, ``trainer``, ...), which Hydra only allows with the
    ``# @package _global_`` header; without it everything would land under ``recipe:`` and the default
    recipe would run instead. A file without any ``@package`` line gets the header in a temporary copy
    (the user's file is never changed).
    """
    text = file.read_text()
    if "@package" in "\n".join(text.splitlines()[:5]):
        link.symlink_to(file)
    else:
        log.info("%s has no '%s' line; reading it as if it had", file, _PACKAGE_HEADER)
        link.write_text(f"{_PACKAGE_HEADER}\n{text}")


def compose_recipe(overrides: Sequence[str] = ()) -> DictConfig:
    """Compose the config ``python -m srlib.train`` would run, without running it.

    Args:
        overrides: command-line style ``key=value`` strings, ``recipe=`` and ``recipes_dir=`` included.

    Raises:
        ValueError: unknown recipe (with close matches) or unknown key (with the valid keys).
    """
    from hydra import compose, initialize_config_dir
    from hydra.errors import ConfigCompositionException, HydraException, MissingConfigException

    special = {k: None for k in _SPECIAL_KEYS}
    rest = []
    for item in overrides:
        key, sep, value = item.partition("=")
        bare = key.lstrip("+~")
        if sep and bare in special:
            special[bare] = value
        elif sep and bare == "hydra.run.dir":  # Hydra's run folder is srlib's output_dir
            rest.append(f"output_dir={value}")
        elif bare.startswith("hydra."):
            raise RecipeError(
                f"{bare} is a setting of Hydra's own launcher, which srlib does not use; srlib's "
                "equivalents: output_dir=DIR (hydra.run.dir), -m for sweeps, recipes_dir=DIR for your own "
                "recipes."
            )
        else:
            rest.append(item)
    recipe = special["recipe"] or "quickstart"
    with _search_path(recipe, special["recipes_dir"]) as (entries, name):
        head = [f"hydra.searchpath=[{','.join(entries)}]"] if entries else []
        with initialize_config_dir(config_dir=str(recipes_root()), version_base="1.3"):
            try:
                cfg = compose(config_name="train", overrides=[*head, f"recipe={name}", *rest])
            except (ConfigCompositionException, HydraException, MissingConfigException) as err:
                # Judge each key against the recipe with the command line's group choices (data=folder).
                groups = [o for o in rest if "." not in o.partition("=")[0]]
                try:
                    base = compose(config_name="train", overrides=[*head, f"recipe={name}", *groups])
                except (ConfigCompositionException, HydraException, MissingConfigException):
                    groups = []
                    base = compose(config_name="train", overrides=[*head, f"recipe={name}"])
                raise RecipeError(
                    _explain_override_error(err, [o for o in rest if o not in groups], base)
                ) from err
            if isinstance(cfg.get("recipe"), DictConfig):
                raise RecipeError(
                    f"recipe {name} put its settings under 'recipe:' (its file lacks the first line "
                    f"'{_PACKAGE_HEADER}'); add that line to the recipe file."
                )
            texts = _text_overrides(cfg, rest)
            if texts:
                _check_override_types(
                    cfg, compose(config_name="train", overrides=[*head, f"recipe={name}"]), texts
                )
            return cfg


def _explain_override_error(err: Exception, overrides: Sequence[str], base: DictConfig) -> str:
    """Name each override key the recipe does not have, with the closest existing keys."""
    problems = []
    for item in overrides:
        key = item.partition("=")[0]
        if key.startswith(("+", "~")) or not key:
            continue
        parent_path, _, leaf = key.rpartition(".")
        parent = OmegaConf.select(base, parent_path) if parent_path else base
        # keys(), not `in`: a mandatory (???) key counts as absent for DictConfig.__contains__.
        if isinstance(parent, DictConfig) and leaf not in parent.keys():  # noqa: SIM118
            close = difflib.get_close_matches(leaf, [str(k) for k in parent], n=3, cutoff=0.5)
            valid = ", ".join(str(k) for k in parent)
            suggestion = (
                f" Did you mean {', '.join(f'{parent_path}.{c}' if parent_path else c for c in close)}?"
            )
            new = f" To add it as a new setting: +{key}=..." if parent_path == "trainer" else ""
            problems.append(f"unknown key {key!r}.{suggestion if close else ''}{new} Keys there: {valid}.")
    if problems:
        return "Could not apply the overrides: " + " ".join(problems)
    message = str(err).splitlines()[0]
    hint = (
        " Keys are dotted paths into the recipe (trainer.max_steps=300, model.depth=12, data.root=/path); "
        "a group takes one of its files (model=fsrcnn, loss=l1_perceptual); add a new key with +key=value. "
        "Print the composed recipe with `python -m srlib.train --show`."
    )
    return f"Could not apply overrides {list(overrides)}: {message}{hint}"


def _text_overrides(cfg: DictConfig, overrides: Sequence[str]) -> dict[str, str]:
    """``key -> value`` of the ``key=value`` overrides whose composed value is text."""
    found = {}
    for item in overrides:
        key, sep, _ = item.partition("=")
        if not sep or key.startswith(("+", "~")) or "@" in key:
            continue
        value = OmegaConf.select(cfg, key, default=None, throw_on_missing=False)
        if isinstance(value, str) and value != "???":
            found[key] = value
    return found


_NUMERIC = (int, float, bool, type(None))


def _numbers_only(owner: str | None, param: str) -> bool | None:
    """Whether ``owner``'s signature types ``param`` as numbers/booleans only (``None``: it does not say)."""
    if owner is None:
        return None
    import inspect
    import typing

    from hydra.utils import get_object

    try:
        target = get_object(owner)
        init = target.__init__ if inspect.isclass(target) else target
        if param not in inspect.signature(target).parameters:
            return None
        hint = typing.get_type_hints(init).get(param)
    except Exception:  # unresolvable: leave the judgement to the target itself
        return False
    if hint is None:
        return None
    members = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    return all(m in _NUMERIC or getattr(m, "__name__", "") == "Tensor" for m in members)


def _check_override_types(cfg: DictConfig, base: DictConfig, texts: dict[str, str]) -> None:
    """Refuse text given for a number or a boolean, naming the key, before anything is built.

    A setting counts as numeric when its target's signature says so (``trainer.*``: ``lightning.Trainer``;
    a node with ``_target_``: that class), else when the recipe's own value is a number or a boolean.
    """
    for key, value in texts.items():
        parent_path, _, leaf = key.rpartition(".")
        parent = OmegaConf.select(cfg, parent_path) if parent_path else cfg
        owner = "lightning.Trainer" if parent_path == "trainer" else None
        if isinstance(parent, DictConfig) and "_target_" in parent:
            owner = str(parent["_target_"])
        numeric = _numbers_only(owner, leaf)
        try:
            default = OmegaConf.select(base, key, default=None, throw_on_missing=False)
        except Exception:  # an interpolation the base cannot resolve: no example value
            default = None
        if numeric is None:
            numeric = isinstance(default, (int, float))
        if not numeric:
            continue
        if isinstance(default, bool):
            kind, example = "true or false", str(default).lower()
        else:
            kind, example = ("an integer" if isinstance(default, int) else "a number"), default
        fix = f"give one like {key}={example}" if default is not None else f"give {kind} after {key}="
        raise RecipeError(f"{key} must be {kind}, got {value!r}; {fix}.")


def expand_sweep(overrides: Sequence[str], recipe_sweep: dict | None = None) -> list[list[str]]:
    """Every combination of the sweep values, as override lists (one per run), in a stable order.

    ``overrides`` are command-line overrides with Hydra's sweep syntax (``a=1,2``, ``b=range(2,5)``,
    ``c=choice(x,y)``); ``recipe_sweep`` maps keys to the same strings (a recipe's ``sweep:`` table). A
    key given on the command line replaces the recipe's sweep of it.

    Example:
        >>> expand_sweep(["scale=2,3", "seed=0"])
        [['scale=2', 'seed=0'], ['scale=3', 'seed=0']]
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    cli = parser.parse_overrides(list(overrides))
    cli_keys = {o.get_key_element() for o in cli}
    from_recipe = [f"{k}={v}" for k, v in (recipe_sweep or {}).items() if str(k) not in cli_keys]
    axes: dict[str, list[str]] = {}  # a key given twice: the later value wins
    for override in parser.parse_overrides(from_recipe) + cli:
        key = override.get_key_element()
        if override.is_sweep_override():
            axes[key] = [f"{key}={v}" for v in override.sweep_string_iterator()]
        else:
            axes[key] = [override.input_line]
    return [list(combo) for combo in itertools.product(*axes.values())]


def explain_build_error(err: BaseException) -> str:
    """The user-facing cause of a build error (Hydra wraps the real one in ``InstantiationException``)."""
    cause = err
    while cause.__cause__ is not None and type(cause).__name__ == "InstantiationException":
        cause = cause.__cause__
    message = str(cause)
    if isinstance(cause, TypeError) and "unexpected keyword argument" in message:
        key = message.rsplit("'", 2)[-2] if message.count("'") >= 2 else "?"
        where = str(err).rsplit("full_key: ", 1)[-1].strip() if "full_key: " in str(err) else "the recipe"
        message = (
            f"{where}.{key} is not a setting of {message.split('.')[0].split('(')[0]}; remove it with "
            f"~{where}.{key} (or pick a {where} group that takes it). Details: {message}"
        )
    return message
