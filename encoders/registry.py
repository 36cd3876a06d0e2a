"""A tiny name -> factory registry with "did you mean" errors.

Lives in ``encoders`` because that package imports nothing of ours; ``vidmem`` and ``robot``
reuse it for their own components (stores, reasoners, policies).
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class UnknownComponentError(ValueError):
    """Raised when a component name is not registered (message suggests close names)."""


class Registry(Generic[T]):
    """Maps names to (config class, builder) pairs for one kind of component.

    Args:
        kind: what the registry holds, used in error messages ("encoder", "reasoner").
        preset_dir: folder of YAML presets (``configs/<kind>s``), each file stem a preset name.
    """

    def __init__(self, kind: str, preset_dir: Path | None = None) -> None:
        self.kind = kind
        self.preset_dir = preset_dir
        self._entries: dict[str, tuple[type, Callable[[Any], T]]] = {}

    def register(self, name: str, config_cls: type) -> Callable[[Callable[[Any], T]], Callable[[Any], T]]:
        """Decorator registering ``builder(config) -> T`` under ``name``."""

        def wrap(builder: Callable[[Any], T]) -> Callable[[Any], T]:
            self._entries[name] = (config_cls, builder)
            return builder

        return wrap

    def names(self) -> list[str]:
        """Registered names plus preset file stems, sorted."""
        presets = [p.stem for p in self.preset_dir.glob("*.yaml")] if self.preset_dir else []
        return sorted(set(self._entries) | set(presets))

    def _lookup(self, name: str) -> tuple[type, Callable[[Any], T]]:
        if name not in self._entries:
            close = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise UnknownComponentError(f"unknown {self.kind} {name!r}{hint} (known: {', '.join(self.names())})")
        return self._entries[name]

    def resolve_config(self, spec: Any, **overrides: Any) -> tuple[str, Any]:
        """Turns a name, a YAML preset path/name or a config object into ``(type_name, config)``."""
        if dataclasses.is_dataclass(spec) and not isinstance(spec, type):
            for name, (cls, _) in self._entries.items():
                if type(spec) is cls:
                    return name, dataclasses.replace(spec, **overrides) if overrides else spec
            raise UnknownComponentError(f"config {type(spec).__name__} is not a registered {self.kind}")
        if not isinstance(spec, str):
            raise TypeError(f"{self.kind} spec must be a name, a YAML path or a config, got {spec!r}")
        preset = self._find_preset(spec)
        if preset is not None:
            fields = _read_yaml(preset)
            type_name = fields.pop("type", None)
            if type_name is None:
                raise ValueError(f"preset {preset} has no 'type' field naming the {self.kind}")
            cls, _ = self._lookup(type_name)
            fields.setdefault("name", preset.stem) if "name" in _field_names(cls) else None
            fields.update(overrides)
            return type_name, cls(**fields)
        cls, _ = self._lookup(spec)
        return spec, cls(**overrides)

    def build(self, spec: Any, **overrides: Any) -> T:
        """Builds a component from a name, a preset (stem or YAML path) or a config object."""
        name, config = self.resolve_config(spec, **overrides)
        return self._lookup(name)[1](config)

    def _find_preset(self, spec: str) -> Path | None:
        path = Path(spec)
        if path.suffix in (".yaml", ".yml") and path.is_file():
            return path
        if self.preset_dir is not None and "/" not in spec:
            candidate = self.preset_dir / f"{spec}.yaml"
            if candidate.is_file():
                return candidate
        return None


def _field_names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"preset {path} must be a mapping of config fields")
    return data
