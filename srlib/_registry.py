"""One registry mechanism for every named thing srlib builds: models, losses, detectors, datasets.

A :class:`Registry` maps names to entries (a class, a factory, a dataclass describing one) for one
``kind`` of thing. It refuses a name twice, finds an entry by its name or an alias (case-insensitively
where the registry says so), lists names with a shell-style filter and, for a name it does not know,
builds the one error every registry gives: the name, the close matches and where to see them all.
:func:`check_kwargs` is the matching check for the keyword arguments of whatever an entry builds.

It is a mapping of the entries by their registered names, so ``name in registry``, ``registry[name]``
and ``registry.items()`` work as for a dict; ``registry[name] = entry`` replaces an entry without
the checks (to amend one, or in tests).

Example:
    >>> losses = Registry("loss", plural="losses")
    >>> @losses.register("charbonnier")
    ... def charbonnier(*, eps: float = 1e-3) -> str:
    ...     return f"Charbonnier(eps={eps})"
    >>> losses.lookup("charbonnier")(eps=0.1)
    'Charbonnier(eps=0.1)'
    >>> losses.lookup("charbonier")
    Traceback (most recent call last):
        ...
    ValueError: Unknown loss 'charbonier'. Did you mean 'charbonnier'? Registered losses: 'charbonnier'.
    >>> check_kwargs(charbonnier, {"epsilon": 0.1}, what="Loss 'c'")
    Traceback (most recent call last):
        ...
    ValueError: Loss 'c' got unknown argument(s) ['epsilon']. Valid arguments: ['eps']. Did you mean 'eps'?
"""

from __future__ import annotations

import copy
import difflib
import fnmatch
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from typing import Any, TypeVar

__all__ = ["Registry", "check_kwargs", "close_matches", "match_names", "valid_kwargs"]

T = TypeVar("T")


def close_matches(
    word: object, choices: Iterable[str], *, n: int = 3, cutoff: float = 0.6, ignore_case: bool = False
) -> list[str]:
    """The ``choices`` closest to a mistyped ``word``, best first (at most ``n``, none below ``cutoff``).

    Example:
        >>> close_matches("set15", ["Set5", "Set14", "DIV2K"], ignore_case=True)
        ['Set5', 'Set14']
    """
    fold = str.lower if ignore_case else str
    folded: dict[str, str] = {}
    for choice in choices:
        folded.setdefault(fold(choice), choice)
    found = difflib.get_close_matches(fold(str(word)), list(folded), n=n, cutoff=cutoff)
    return [folded[f] for f in found]


def match_names(names: Iterable[str], filter: str = "", *, ignore_case: bool = False) -> list[str]:
    """Names matching a shell-style pattern (``"vdsr*"``; a plain word matches as a substring), sorted.

    Example:
        >>> match_names(["hat", "hat_s", "vdsr"], "hat")
        ['hat', 'hat_s']
        >>> match_names(["hat", "hat_s", "vdsr"], "*s")
        ['hat_s']
    """
    fold = str.lower if ignore_case else str
    pattern = filter if any(ch in filter for ch in "*?[") else f"*{filter}*"
    return sorted((n for n in names if fnmatch.fnmatchcase(fold(n), fold(pattern))), key=fold)


def _parameters(target: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    """The parameters a keyword can fill (``self``, ``*args``, ``**kwargs``, positional-only left out)."""
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {n: p for n, p in inspect.signature(target).parameters.items() if p.kind in keyword}


def valid_kwargs(target: Callable[..., Any]) -> list[str]:
    """The keyword arguments a class (its ``__init__``) or a function takes by name, sorted.

    Example:
        >>> valid_kwargs(lambda x, *, scale=2, **rest: None)
        ['scale', 'x']
    """
    return sorted(_parameters(target))


def check_kwargs(
    target: Callable[..., Any],
    kwargs: Mapping[str, Any],
    *,
    what: str,
    require: bool = False,
    var_keyword: bool = False,
) -> None:
    """Raise ``ValueError`` if ``kwargs`` would not fit ``target``'s signature, naming the valid keywords.

    Args:
        target: the class or function ``kwargs`` are for.
        kwargs: the keyword arguments a user gave.
        what: the subject of the message (``"Model 'vdsr'"``).
        require: also refuse a call that leaves a parameter without a default unset.
        var_keyword: let a ``**kwargs`` parameter of ``target`` accept any other keyword (a factory that
            forwards them). Off by default: ``nn.Module.__init__``'s ``**kwargs`` accepts none.

    Raises:
        ValueError: unknown keywords (with the valid ones and the closest of them), or a missing one.

    Example:
        >>> check_kwargs(lambda *, eps: None, {}, what="Loss 'x'", require=True)
        Traceback (most recent call last):
            ...
        ValueError: Loss 'x' needs the argument(s): eps.
    """
    params = _parameters(target)
    open_ended = var_keyword and any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(target).parameters.values()
    )
    unknown = [] if open_ended else sorted(set(kwargs) - set(params))
    if unknown:
        valid = sorted(params)
        close = {key: found[0] for key in unknown if (found := close_matches(key, valid, n=1))}
        hint = ", ".join(f"{c!r}" if len(unknown) == 1 else f"{c!r} for {k!r}" for k, c in close.items())
        hint = f" Did you mean {hint}?" if hint else ""
        raise ValueError(
            f"{what} got unknown argument(s) {unknown}. Valid arguments: {valid or 'none'}.{hint}"
        )
    if require:
        missing = [n for n, p in params.items() if p.default is inspect.Parameter.empty and n not in kwargs]
        if missing:
            raise ValueError(f"{what} needs the argument(s): {', '.join(missing)}.")


class Registry(MutableMapping[str, T]):
    """Named entries of one kind, with the checks and the messages every srlib registry shares.

    Args:
        kind: what an entry is, as messages say it (``"model"``, ``"dataset"``).
        plural: the plural of ``kind`` (default ``kind + "s"``).
        lister: the call that lists every name (``"srlib.list_models()"``): an unknown name's message
            points there instead of listing every name (for long registries).
        hint: a sentence added to an unknown name's message (another way to name the thing).
        ignore_case: names and aliases match whatever their case; names sort case-insensitively.
        aliases: ``fn(entry) -> names`` the entry also answers to (the entry's own data, so an entry
            put in with ``registry[name] = entry`` answers to its aliases too).
        cutoff: how close (0-1, :mod:`difflib`'s ratio) a name must be to be suggested.

    Example:
        >>> sets = Registry("dataset", ignore_case=True, aliases=lambda spec: spec["aliases"])
        >>> sets.register("BSD100", {"aliases": ["B100"]})
        {'aliases': ['B100']}
        >>> sets.canonical("b100"), "b100" in sets
        ('BSD100', False)
        >>> sets.register("b100", {"aliases": []})
        Traceback (most recent call last):
            ...
        ValueError: Dataset name(s) ['b100'] already registered (as ['BSD100']).
    """

    def __init__(
        self,
        kind: str,
        *,
        plural: str | None = None,
        lister: str | None = None,
        hint: str = "",
        ignore_case: bool = False,
        aliases: Callable[[T], Iterable[str]] | None = None,
        cutoff: float = 0.6,
    ) -> None:
        self.kind = kind
        self.plural = plural or f"{kind}s"
        self.lister = lister
        self.hint = hint
        self.ignore_case = ignore_case
        self.cutoff = cutoff
        self._aliases_of = aliases
        self._entries: dict[str, T] = {}

    # -- the mapping: entries by registered name, no checks -----------------------------------------
    def __getitem__(self, name: str) -> T:
        return self._entries[name]

    def __setitem__(self, name: str, entry: T) -> None:
        self._entries[name] = entry

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self)} entries)"

    def copy(self) -> Registry[T]:
        """A registry of the same kind and settings with the same entries; changes to one stay there."""
        twin = copy.copy(self)
        twin._entries = dict(self._entries)
        return twin

    # -- registering ---------------------------------------------------------------------------------
    def aliases(self, entry: T) -> tuple[str, ...]:
        """The other names ``entry`` answers to."""
        return tuple(self._aliases_of(entry)) if self._aliases_of else ()

    def taken(self, *names: str) -> dict[str, str]:
        """``name -> registered name`` for each of ``names`` already in use (as a name or an alias)."""
        owners = {name: self.canonical(name) for name in names}
        return {name: owner for name, owner in owners.items() if owner is not None}

    def register(self, name: str, entry: Any = None, *, overwrite: bool = False) -> Any:
        """Add ``entry`` under ``name``; without ``entry``, a decorator that adds what it decorates.

        Args:
            name: the name (its aliases come from the entry, see the class arguments).
            entry: the entry; returned unchanged.
            overwrite: replace the entries that hold the name or one of the aliases already.

        Raises:
            ValueError: the name or an alias is taken (and ``overwrite`` is false), or the name is empty.
        """
        if entry is None:
            return lambda obj: self.register(name, obj, overwrite=overwrite)
        if not isinstance(name, str) or not name:
            raise ValueError(f"A {self.kind} needs a non-empty name; got {name!r}.")
        taken = self.taken(name, *self.aliases(entry))
        if taken and not overwrite:
            raise ValueError(
                f"{self.kind.capitalize()} name(s) {sorted(taken)} already registered "
                f"(as {sorted(set(taken.values()))})."
            )
        for owner in set(taken.values()):
            del self._entries[owner]
        self._entries[name] = entry
        return entry

    # -- finding -------------------------------------------------------------------------------------
    def canonical(self, name: object) -> str | None:
        """The registered name ``name`` stands for (itself, the owner of an alias), else ``None``.

        Example:
            >>> reg = Registry("model", aliases=lambda entry: entry)
            >>> _ = reg.register("minisrresnet", ["minisrgan"])
            >>> reg.canonical("minisrgan"), reg.canonical("MiniSRGAN"), reg.canonical(3)
            ('minisrresnet', None, None)
        """
        if not isinstance(name, str):
            return None
        if name in self._entries:
            return name
        for key, entry in self._entries.items():
            if name in self.aliases(entry):
                return key
        if self.ignore_case:
            low = name.lower()
            for key, entry in self._entries.items():
                if low == key.lower() or low in (a.lower() for a in self.aliases(entry)):
                    return key
        return None

    def lookup(self, name: object) -> T:
        """The entry ``name`` stands for (see :meth:`canonical`).

        Raises:
            ValueError: an unknown name (see :meth:`unknown`).
        """
        key = self.canonical(name)
        if key is None:
            raise self.unknown(name)
        return self._entries[key]

    def names(self, filter: str = "") -> list[str]:
        """Registered names (aliases left out) matching a shell-style ``filter``, sorted.

        Example:
            >>> reg = Registry("detector")
            >>> for n in ("mobilenetv3_canny", "block_period"):
            ...     _ = reg.register(n, object())
            >>> reg.names(), reg.names("block*")
            (['block_period', 'mobilenetv3_canny'], ['block_period'])
        """
        return match_names(self._entries, filter, ignore_case=self.ignore_case)

    def close_matches(self, name: object, n: int = 3) -> list[str]:
        """Registered names close to a mistyped ``name``; an alias that is close suggests its owner."""
        choices = {key: key for key in self._entries}
        for key, entry in self._entries.items():
            for alias in self.aliases(entry):
                choices.setdefault(alias, key)
        close = close_matches(name, choices, n=n, cutoff=self.cutoff, ignore_case=self.ignore_case)
        return list(dict.fromkeys(choices[c] for c in close))

    def unknown(self, name: object) -> ValueError:
        """The error for a name this registry does not know: the close matches and all the names.

        Example:
            >>> reg = Registry("model", lister="srlib.list_models()")
            >>> _ = reg.register("vdsr", object())
            >>> str(reg.unknown("vdsrr"))
            "Unknown model 'vdsrr'. Did you mean 'vdsr'? srlib.list_models() shows all 1 registered models."
        """
        close = self.close_matches(name)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        names = self.names()
        if self.lister:
            listing = f" {self.lister} shows all {len(names)} registered {self.plural}."
        else:
            listing = f" Registered {self.plural}: {', '.join(repr(n) for n in names) or 'none'}."
        extra = f" {self.hint}" if self.hint else ""
        return ValueError(f"Unknown {self.kind} {name!r}.{hint}{listing}{extra}")
