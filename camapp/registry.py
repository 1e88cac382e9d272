"""Registries of parts: each kind of part (capture source, detector backend, sink, alarm output) registers its
config model and its builder under a key. The config section for that kind is a discriminated union over the
registered models, keyed by one field (`source` for cameras, `type` otherwise); the wiring looks the builder up by
the same key.

Adding a part is one module: a config model with `<key_field>: Literal["mykey"] = "mykey"` and a builder decorated
with `@REGISTRY.register(MyConfig)`. Registering a new model rebuilds the config union (listeners), so the key is
valid in YAML from then on. A part with no settings of its own (a GPIO backend, picked by `gpio.pin_factory`)
registers its builder under a plain key with `@REGISTRY.register_key("mykey")`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Generic, TypeVar, Union, cast

from pydantic import BaseModel, Discriminator, Tag

from camapp.errors import ConfigError

B = TypeVar("B")
F = TypeVar("F")
M = TypeVar("M", bound=type[BaseModel])


class Keyed:
    """The config side of a registry: the config models (and settings-free keys) valid for one kind of part, and
    the union the config section is built from. Holds no builders, so registries of different builder types
    can be handled together (camapp.config.UNIONS)."""

    def __init__(self, kind: str, key_field: str, default_key: str | None = None) -> None:
        self.kind, self.key_field, self.default_key = kind, key_field, default_key
        self._configs: dict[str, type[BaseModel]] = {}
        self._bare: dict[str, None] = {}  # keys of parts with no settings of their own, in registration order
        self._listeners: list[Callable[[], None]] = []

    def key_of(self, model: type[BaseModel]) -> str:
        """The key a config model declares: the default of its key field (a one-value Literal)."""
        field = model.model_fields.get(self.key_field)
        if field is None or not isinstance(field.default, str):
            raise TypeError(f"{model.__name__} needs `{self.key_field}: Literal[...] = ...` to be a {self.kind}")
        return field.default

    def add_config(self, model: M) -> M:
        """Make a config model a member of the union (the part's builder may register later); returns it."""
        key = self.key_of(model)
        known = self._configs.get(key)
        if known is not model:
            if known is not None:
                raise TypeError(f"{self.kind} '{key}' is registered twice ({known.__name__}, {model.__name__})")
            self._configs[key] = model
            for listener in self._listeners:
                listener()
        return model

    def add_key(self, key: str) -> None:
        """Make `key` valid in config for a part with no settings of its own (its builder may register later)."""
        if key not in self._bare:
            self._bare[key] = None
            for listener in self._listeners:
                listener()

    def config_for(self, key: str) -> type[BaseModel] | None:
        """The config model registered under `key`, if any."""
        return self._configs.get(key)

    def config_keys(self) -> list[str]:
        return sorted(self._configs)

    def bare_keys(self) -> tuple[str, ...]:
        """Keys added with add_key/register_key, in the order they were added."""
        return tuple(self._bare)

    def configs(self) -> list[type[BaseModel]]:
        return list(self._configs.values())

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call `listener` whenever a new config model joins (the config rebuilds its union)."""
        self._listeners.append(listener)

    def tag(self, value: Any) -> str | None:
        """The key of raw config data or of a built config (pydantic's discriminator)."""
        if isinstance(value, dict):
            key = value.get(self.key_field, self.default_key)
            return key if isinstance(key, str) else None
        if isinstance(value, BaseModel):
            return self.key_of(type(value))
        return None

    def union(self) -> Any:
        """The annotation of the config section: a union of the registered models, discriminated by the key."""
        members = tuple(Annotated[m, Tag(k)] for k, m in self._configs.items())
        if len(members) == 1:  # pydantic's discriminator needs a real union; one model checks its own key
            return next(iter(self._configs.values()))
        return Annotated[Union[members], Discriminator(self.tag)]  # noqa: UP007 - built at run time from a tuple

    def explain(self, tag: str, error: Mapping[str, Any]) -> str:
        """A clearer message for an error pydantic raised inside one member of the union."""
        if error["type"] == "missing":
            return f"required by {self.key_field} '{tag}'"
        if error["type"] == "extra_forbidden":
            model = self._configs[tag]
            keys = ", ".join(k for k in model.model_fields if k != self.key_field)
            return f"not a setting of {self.key_field} '{tag}' (its settings: {keys})"
        return str(error["msg"])

    def explain_tag(self, error: Mapping[str, Any]) -> str | None:
        """The message for an unknown or missing key, or None when the error is about something else."""
        if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
            got = error.get("ctx", {}).get("tag", error["input"])
            return f"{self.key_field} must be one of {', '.join(sorted(self._configs))}; got {got!r}"[:300]
        return None


class Registry(Keyed, Generic[B]):
    """Key -> (config model, builder) for one kind of part."""

    def __init__(self, kind: str, key_field: str, default_key: str | None = None) -> None:
        super().__init__(kind, key_field, default_key)
        self._builders: dict[str, B] = {}

    def register(self, model: type[BaseModel]) -> Callable[[F], F]:
        """Decorator: `builder` builds the part for a config of `model`.

        A builder takes its own config model, a subclass of the kind's base, where the registry's builder type
        names the base: it is only ever called with a config of `model` (looked up by that model's key), which
        no static signature can say, hence the one cast here rather than Any at every call site."""

        def add(builder: F) -> F:
            self.add_config(model)
            self._builders[self.key_of(model)] = cast(B, builder)
            return builder

        return add

    def register_key(self, key: str) -> Callable[[B], B]:
        """Decorator: `builder` builds the settings-free part named `key`."""

        def add(builder: B) -> B:
            self.add_key(key)
            self._builders[key] = builder
            return builder

        return add

    def unregister(self, key: str) -> None:
        """Forget a part (a plugin unloaded, a test's fake part); the config union no longer accepts its key."""
        self._builders.pop(key, None)
        had_key = key in self._bare
        self._bare.pop(key, None)
        if self._configs.pop(key, None) is not None or had_key:
            for listener in self._listeners:
                listener()

    def builder(self, key: str) -> B:
        """The builder registered under `key`; ConfigError naming the known keys when there is none. Parts are
        discovered first (camapp.plugins), so a plugin installed since the last lookup is found."""
        from camapp.plugins import discover  # lazy: the part modules import this one

        if key not in self._builders:
            discover()
        try:
            return self._builders[key]
        except KeyError:
            raise ConfigError(f"no {self.kind} '{key}' is available here (known: {', '.join(self.keys())})") from None

    def keys(self) -> list[str]:
        return sorted(self._builders)
