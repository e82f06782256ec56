"""Train a model from a recipe: ``python -m srlib.train [-m] [recipe=NAME] [key=value ...]``.

Recipes are Hydra configs (the ``recipes/`` tree, shipped inside the package). ``recipe=`` takes a
built-in name (``quickstart``, ``fsrcnn_x4``, ``finetune``, ...) or the path of your own recipe file;
``recipes_dir=DIR`` adds your own recipe folder to Hydra's search path. ``key=value`` overrides any
setting (``trainer.max_steps=2000``, ``data.train_dir=/photos``, ``model.depth=12``).

``-m`` (multirun) runs every combination of comma-separated values (``-m model.depth=12,18
scale=2,3``) plus the recipe's own ``sweep:`` table, each run in its own folder, then writes one table
(``summary.md``, ``summary.csv``) and a plot of the scores. ``resume=true output_dir=DIR`` continues an
interrupted run from ``DIR/checkpoints/last.ckpt``.

With no arguments it runs the quickstart: a small VDSR trained on photos bundled with
scikit-image, then evaluated against bicubic on held-out photos.

A failure you can fix (unknown or missing key, a value of the wrong type, an output folder that cannot
be written, bad data) prints one ``error:`` line naming the key or path and exits with code 2, before
training starts where it can be known then; ``SRLIB_DEBUG=1`` adds the traceback.
"""

from __future__ import annotations

import difflib
import itertools
import logging
import sys
import tempfile
import types
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from srlib._cli import check_writable, run_cli
from srlib._logging import setup_cli_logging
from srlib.lit.run import RecipeError, final_evaluation, train

__all__ = [
    "compose_recipe",
    "expand_sweep",
    "final_evaluation",
    "list_recipes",
    "main",
    "recipes_root",
    "train",
]

log = logging.getLogger("srlib.train")

_SPECIAL_KEYS = ("recipe", "recipes_dir")


def recipes_root() -> Path:
    """The built-in recipe tree (package data in a wheel, ``recipes/`` in a checkout)."""
    packaged = Path(str(resources.files("srlib") / "recipes"))
    if (packaged / "train.yaml").is_file():
        return packaged
    checkout = Path(__file__).resolve().parents[1] / "recipes"
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


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point (``python -m srlib.train``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    setup_cli_logging(logging.INFO)
    if any(a in ("-h", "--help") for a in args):
        print(__doc__)
        print("Built-in recipes:", ", ".join(list_recipes()))
        return 0
    show = "--show" in args
    multirun = any(a in ("-m", "--multirun") for a in args)
    args = [a for a in args if a not in ("--show", "-m", "--multirun")]
    output_dirs = [a.partition("=")[2] for a in args if a.partition("=")[0].lstrip("+") == "output_dir"]
    return run_cli(lambda: _run(args, show=show, multirun=multirun), outputs=output_dirs)


def _run(args: list[str], *, show: bool, multirun: bool) -> int:
    if multirun:
        from srlib.lit.sweep import run_sweep

        return run_sweep(args, compose=compose_recipe, expand=expand_sweep, show=show)
    cfg = compose_recipe(args)
    if show:
        print(OmegaConf.to_yaml(cfg))
        return 0
    if cfg.get("sweep"):
        log.warning(
            "Recipe %s is a sweep over %s: add -m to run every combination; running one run now.",
            cfg.name,
            ", ".join(str(k) for k in cfg.sweep),
        )
    if cfg.get("output_dir") and not cfg.get("resume"):
        check_writable(Path(str(cfg.output_dir)), folder=True)  # before the data is read
    result = train(cfg)
    print(format_result(cfg.name, result))
    return 1 if result.get("stopped") == "non-finite loss" else 0


def format_result(name: str, result: dict) -> str:
    """The run summary printed at the end of ``python -m srlib.train``."""
    done, planned = result["global_steps"], result.get("planned_steps")
    lines = [f"\nTrained {name} in {result['train_seconds']} s ({done} of {planned} steps)."]
    if result.get("stopped"):
        lines.append(f"  STOPPED EARLY: {result['stopped']} ({result.get('stop_detail', '')})")
    if result.get("best_weights"):
        which = "best validated" if result.get("best_validated") else "never validated: the last weights"
        lines.append(f"  weights:    {result['best_weights']}  ({which}; last: {result['last_weights']})")
    else:
        lines.append("  weights:    none written (no step ended with finite weights)")
    if result.get("checkpoint"):
        lines.append(
            f"  checkpoint: {result['checkpoint']}  "
            f"(continue with resume=true output_dir={result['output_dir']})"
        )
    if "psnr" in result:
        data = result.get("eval_data") or {}
        lines.append(
            f"  metrics:    {result['metrics']}\n"
            f"              on the run's validation data ({data.get('images', '?')} images, "
            f"LR: {data.get('lr', '?')}):"
        )
        if "before_psnr" in result:
            lines.append(
                f"              before (init weights) PSNR {result['before_psnr']:.2f} dB, "
                f"SSIM {result['before_ssim']:.4f}"
            )
        lines.append(
            f"              after  PSNR {result['psnr']:.2f} dB, SSIM {result['ssim']:.4f}\n"
            f"              bicubic PSNR {result['bicubic_psnr']:.2f} dB, SSIM {result['bicubic_ssim']:.4f}"
        )
        lines.append(
            f"  comparison: {result['comparison']}  "
            f"(bicubic | model | ground truth, {result['comparison_image']})"
        )
    elif "metrics" in result:
        lines.append(f"  metrics:    {result['metrics']}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
