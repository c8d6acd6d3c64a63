"""Finding plugins: entry-point loading, isolation of broken plugins, the spec catalogue, and
calling a model's hooks on the plugin that owns it.

Every plugin, built-in or not, comes from the ``zoo.plugins`` entry-point group. A plugin
that fails to import, implements a hook that does not exist, or whose ``zoo_models`` /
``zoo_datasets`` raises or returns malformed specs is unregistered and reported; the rest
of the zoo keeps working.

Ownership: the plugin that declares a model answers that model's per-model hooks
(``call_model_hook``); no other plugin's answer is asked for, so a plugin cannot take over
another's models by forgetting a check. Wrappers of every plugin still run around the call.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field, replace
from importlib import metadata
from types import ModuleType
from typing import Any, Callable, Iterator

import pluggy

from zoo import defaults, hookspecs
from zoo.errors import WorkFailed, ZooError, one_line
from zoo.specs import DatasetSpec, ModelSpec, SpecError

ENTRY_POINT_GROUP = "zoo.plugins"
DISABLE_VARIABLE = "ZOO_DISABLE_PLUGINS"
CORE_PLUGIN = "core"


@dataclass
class PluginInfo:
    """What `zoo plugins` shows about one plugin."""

    name: str
    distribution: str
    version: str
    module: str
    hooks: list[str] = field(default_factory=list)
    status: str = "ok"

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "module": self.module,
            "hooks": list(self.hooks),
            "status": self.status,
        }


@dataclass
class Conflict:
    """Two or more plugins claim the same name.

    A model or dataset name is left out until one plugin is disabled. A family name shared
    by two plugins breaks nothing (each plugin answers only for its own models) but mixes
    their models under one family in ``zoo list --family``, so it is reported too.
    """

    kind: str
    name: str
    plugins: list[str]

    def message(self) -> str:
        owners = " and ".join(repr(p) for p in self.plugins)
        if self.kind == "family":
            return (f"family {self.name!r} is declared by plugins {owners}; each answers only for its own "
                    f"models, but `zoo list --family {self.name}` mixes them: one of them should rename it")
        return (
            f"{self.kind} {self.name!r} is registered by plugins {owners}; it is left out until "
            f"one of them is disabled ({DISABLE_VARIABLE}={self.plugins[-1]})"
        )


@dataclass
class PluginSet:
    """The loaded plugins and everything they declared."""

    manager: pluggy.PluginManager
    plugins: list[PluginInfo]
    models: dict[str, ModelSpec]
    datasets: dict[str, DatasetSpec]
    conflicts: list[Conflict]
    deprecations: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """One line per broken plugin or name conflict, for stderr."""
        lines = [f"plugin {p.name!r} is {p.status}" for p in self.plugins if p.status.startswith("broken")]
        return lines + [c.message() for c in self.conflicts]


def disabled_plugins() -> set[str]:
    return {name.strip() for name in os.environ.get(DISABLE_VARIABLE, "").split(",") if name.strip()}


def _entry_points() -> list[metadata.EntryPoint]:
    seen: dict[tuple[str, str], metadata.EntryPoint] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        seen.setdefault((ep.name, ep.value), ep)
    return sorted(seen.values(), key=lambda ep: (ep.name, ep.value))


def _register(pm: pluggy.PluginManager, plugin: object, info: PluginInfo) -> None:
    """Register ``plugin`` or mark ``info`` broken; a misspelt hook name counts as broken."""
    try:
        pm.register(plugin, name=info.name)
    except Exception as exc:  # pluggy raises ValueError or PluginValidationError
        info.status = f"broken: {one_line(exc)}"
        return
    callers = pm.get_hookcallers(plugin) or []
    unknown = sorted(c.name for c in callers if not c.has_spec())
    if unknown:
        pm.unregister(plugin)
        info.status = f"broken: hook {unknown[0]!r} matches no hookspec (misspelt?)"
        return
    info.hooks = sorted(c.name for c in callers)


def each_plugin(caller: pluggy.HookCaller, **kwargs: Any) -> Iterator[tuple[str, Any, BaseException | None]]:
    """Call a list-returning hook plugin by plugin, so one plugin's failure (``sys.exit`` included) stays
    that plugin's: ``(plugin, answer, None)`` or ``(plugin, None, exception)``. Wrappers only wrap the
    others' calls and give no list of their own: they are not called."""
    for impl in caller.get_hookimpls():
        if _is_wrapper(impl):
            continue
        try:
            answer = impl.function(**kwargs)
        except (KeyboardInterrupt, GeneratorExit):
            raise
        except BaseException as exc:
            yield impl.plugin_name, None, exc
        else:
            yield impl.plugin_name, answer, None


def _collect(
    pm: pluggy.PluginManager, hook: str, kind: type, info_by_name: dict[str, PluginInfo], deprecations: list[str],
) -> dict[str, list[Any]]:
    """The specs of a registration hook by plugin; a plugin whose answer fails or breaks the contract
    is unregistered, with the reason in its status. What a spec relies on that the contract deprecated
    is added to ``deprecations`` (a line each, naming the plugin)."""
    results: dict[str, list[Any]] = {}
    for plugin, specs, failure in each_plugin(getattr(pm.hook, hook)):
        info = info_by_name.get(plugin)
        try:
            if failure is not None:
                raise failure
            if not isinstance(specs, (list, tuple)):
                raise SpecError(f"{hook}() returned {type(specs).__name__}, expected a list")
            notes = []
            for spec in specs:
                if not isinstance(spec, kind):
                    raise SpecError(f"{hook}() returned a {type(spec).__name__}, expected {kind.__name__}")
                notes += spec.validate() or []
        except (KeyboardInterrupt, GeneratorExit):
            raise
        except BaseException as exc:  # the call's own failure, re-raised here, or the contract's
            if info is not None:
                info.status = f"broken: {hook}() failed: {one_line(exc)}"
            pm.unregister(name=plugin)
            results.pop(plugin, None)
            continue
        results[plugin] = [replace(spec, plugin=plugin) for spec in specs]
        deprecations += [f"plugin {plugin!r}: {note}" for note in notes]
    return results


def _catalogue(kind: str, by_plugin: dict[str, list[Any]], conflicts: list[Conflict], alive: Callable[[str], bool]):
    owners: dict[str, list[Any]] = {}
    for plugin, specs in by_plugin.items():
        if alive(plugin):
            for spec in specs:
                owners.setdefault(spec.name, []).append(spec)
    catalogue = {}
    for name, specs in sorted(owners.items()):
        if len(specs) == 1:
            catalogue[name] = specs[0]
        else:
            conflicts.append(Conflict(kind, name, [s.plugin for s in specs]))
    return catalogue


def _family_conflicts(models: dict[str, ModelSpec]) -> list[Conflict]:
    owners: dict[str, list[str]] = {}
    for spec in models.values():
        plugins = owners.setdefault(spec.family, [])
        if spec.plugin not in plugins:
            plugins.append(spec.plugin)
    return [Conflict("family", family, sorted(plugins)) for family, plugins in sorted(owners.items())
            if len(plugins) > 1]


def load_plugins(entry_points: list[metadata.EntryPoint] | None = None) -> PluginSet:
    """Load every enabled plugin once and gather their models and datasets."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    infos: list[PluginInfo] = []
    core = PluginInfo(CORE_PLUGIN, "zoo", _version("zoo"), defaults.__name__)
    _register(pm, defaults, core)
    infos.append(core)
    skip = disabled_plugins()
    for ep in entry_points if entry_points is not None else _entry_points():
        dist = ep.dist.name if ep.dist else "?"
        info = PluginInfo(ep.name, dist, ep.dist.version if ep.dist else "?", ep.value)
        infos.append(info)
        if ep.name in skip:
            info.status = f"disabled ({DISABLE_VARIABLE})"
            continue
        try:
            plugin: ModuleType = ep.load()
        except BaseException as exc:  # a plugin calling sys.exit() at import must not end the CLI
            if isinstance(exc, KeyboardInterrupt):
                raise
            info.status = f"broken: import failed: {one_line(exc)}"
            continue
        _register(pm, plugin, info)
    by_name = {i.name: i for i in infos}
    deprecations: list[str] = []
    models = _collect(pm, "zoo_models", ModelSpec, by_name, deprecations)
    datasets = _collect(pm, "zoo_datasets", DatasetSpec, by_name, deprecations)
    conflicts: list[Conflict] = []

    def alive(plugin: str) -> bool:
        return pm.get_plugin(plugin) is not None

    catalogue = _catalogue("model", models, conflicts, alive)
    datasets_catalogue = _catalogue("dataset", datasets, conflicts, alive)
    return PluginSet(
        manager=pm,
        plugins=infos,
        models=catalogue,
        datasets=datasets_catalogue,
        conflicts=conflicts + _family_conflicts(catalogue),
        deprecations=deprecations,
    )


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


@functools.lru_cache(maxsize=1)
def plugin_set() -> PluginSet:
    """The process-wide plugin set, loaded on first use."""
    return load_plugins()


def reset() -> None:
    """Forget the loaded plugins (tests, or after installing a plugin at run time)."""
    plugin_set.cache_clear()


class PluginError(WorkFailed):
    """A plugin's hook failed while doing real work (not the user's input): exit status 1."""


def _is_wrapper(impl: pluggy.HookImpl) -> bool:
    return bool(impl.wrapper or impl.hookwrapper)


def owner_implements(hook: str, spec: ModelSpec) -> bool:
    """Whether the plugin that owns ``spec`` implements ``hook`` itself (wrappers do not count)."""
    return any(impl.plugin_name == spec.plugin and not _is_wrapper(impl)
               for impl in getattr(plugin_set().manager.hook, hook).get_hookimpls())


def owner_hook(hook: str, spec: ModelSpec) -> Callable[..., Any]:
    """``hook`` as it runs for ``spec``: its owner's implementation, then the core's default,
    with every plugin's wrappers around them. Other plugins' answers are left out."""
    pm = plugin_set().manager
    caller = getattr(pm.hook, hook)
    others = {impl.plugin for impl in caller.get_hookimpls()
              if not _is_wrapper(impl) and impl.plugin_name not in (spec.plugin, CORE_PLUGIN)}
    return pm.subset_hook_caller(hook, others) if others else caller


def call_model_hook(hook: str, spec: ModelSpec, **kwargs: Any) -> Any:
    """Call a per-model hook for ``spec`` on the plugin that owns it; no answer, or an
    exception, becomes one clear error."""
    try:
        result = owner_hook(hook, spec)(spec=spec, **kwargs)
    except (ZooError, KeyboardInterrupt):
        raise
    except Exception as exc:
        raise PluginError(f"plugin {spec.plugin!r} failed in {hook} for {spec.name!r}: {one_line(exc)}") from exc
    if result is None:
        why = "returned None" if owner_implements(hook, spec) else "does not implement it"
        raise PluginError(f"plugin {spec.plugin!r} declares model {spec.name!r} but gives no {hook} for it "
                          f"({hook} {why}, and the core has no default for task {spec.task!r})")
    return result
