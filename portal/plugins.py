"""The one plugin manager: discovers, enables and validates plugins, and answers for their data."""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from types import ModuleType

import pluggy
from flask import current_app

from portal import hookspecs
from portal.specs import FormSpec, PluginInfo, SpecError, Standard

ENTRY_POINT_GROUP = "portal.plugins"
BUILTIN_PLUGINS = {"police_kiosk": "plugins.police_kiosk", "campus_card": "plugins.campus_card"}
CORE_PLUGINS = ("portal.core.hooks",)


@dataclass
class InstalledPlugin:
    """A plugin found on this installation, enabled or not."""

    name: str
    module: ModuleType
    source: str
    info: PluginInfo
    enabled: bool

    @property
    def hooks(self) -> list[str]:
        """The names of the hooks the plugin implements."""
        return sorted(
            name for name in dir(self.module)
            if name.startswith("portal_") and hasattr(getattr(self.module, name), "portal_impl")
        )


def discover() -> dict[str, tuple[ModuleType, str]]:
    """Every installed plugin: the built-in ones, then those registered under the entry-point group."""
    found = {name: (importlib.import_module(path), "builtin") for name, path in BUILTIN_PLUGINS.items()}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name not in found:
            dist = point.dist.name if point.dist else "?"
            found[point.name] = (point.load(), f"entry point ({dist})")
    return found


class PluginRegistry:
    """Owns the pluggy manager of one app and the validated data its enabled plugins contribute."""

    def __init__(self, enabled: list[str] | None):
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        for path in CORE_PLUGINS:
            self.pm.register(importlib.import_module(path), name=f"core:{path}")
        found = discover()
        unknown = sorted(set(enabled or ()) - set(found))
        if unknown:
            raise SpecError(f"PORTAL_PLUGINS names plugins that are not installed: {', '.join(unknown)}")
        self.installed = {name: self._install(name, module, source, enabled)
                          for name, (module, source) in found.items()}
        self.pm.check_pending()
        self.standards = self._collect_standards()
        self.forms = self._collect_forms()

    @property
    def hook(self):
        """The hook caller (``registry.hook.portal_menu_items(user=...)``)."""
        return self.pm.hook

    def _install(self, name, module, source, enabled) -> InstalledPlugin:
        """Register the plugin when enabled, block it otherwise."""
        is_enabled = enabled is None or name in enabled
        if is_enabled:
            self.pm.register(module, name=name)
        else:
            self.pm.set_blocked(name)
        return InstalledPlugin(name, module, source, module.portal_plugin_info(), is_enabled)

    def _per_plugin(self, hook_name: str):
        """Yield (plugin name, result) for every enabled plugin implementing an argument-less hook."""
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            result = impl.function()
            if result is not None:
                yield impl.plugin_name, result

    def _collect_standards(self) -> dict[str, Standard]:
        """Every enabled standard by id, each validated."""
        standards: dict[str, Standard] = {}
        for plugin, contributed in self._per_plugin("portal_standards"):
            for standard in contributed:
                standard.validate()
                if standard.id in standards:
                    raise SpecError(f"standard {standard.id} is contributed twice (again by {plugin})")
                standards[standard.id] = standard
        return standards

    def _collect_forms(self) -> dict[tuple[str, str], FormSpec]:
        """Every enabled form spec keyed by (plugin, form id), each validated."""
        forms: dict[tuple[str, str], FormSpec] = {}
        for plugin, contributed in self._per_plugin("portal_form_specs"):
            for spec in contributed:
                spec = dataclasses.replace(spec, plugin=plugin)
                spec.validate()
                forms[(plugin, spec.id)] = spec
        return forms

    def standard(self, standard_id: str) -> Standard | None:
        """An enabled standard by id, or None."""
        return self.standards.get(standard_id)

    def standard_choices(self) -> list[tuple[str, str]]:
        """(id, title) of every enabled standard, for select fields."""
        return [(s.id, f"{s.title} ({s.code})") for s in self.standards.values()]


def registry() -> PluginRegistry:
    """The plugin registry of the current app."""
    return current_app.extensions["portal_plugins"]


def run_hook(name: str, **kwargs) -> list:
    """Call a hook of the current app and flatten list results (the helper templates use)."""
    results = getattr(registry().hook, name)(**kwargs)
    flat: list = []
    for result in results:
        flat.extend(result if isinstance(result, list | tuple) else [result])
    return flat
