"""Validate configuration changes from the UI and API and hand them to the controller (which applies and saves)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from camapp.commands import ApplyConfig
from camapp.config import AppConfig, error_items
from camapp.errors import AuthError, ConfigError
from camapp.redact import SecretReuseError, mask_config, unmask_config
from camapp.types import JsonObject, JsonValue
from camapp.web.context import WebContext

REAUTH_HEADER = "X-Camapp-Password"  # the admin's own password, for changes that loosen security


def field_errors(err: ValidationError) -> dict[str, str]:
    """Map dotted field paths (`motion.threshold`; '' for the whole config) to messages."""
    out: dict[str, str] = {}
    for loc, text in error_items(err):
        path = ".".join(loc)
        msg = text.removeprefix("Value error, ")
        out[path] = f"{out[path]}; {msg}" if path in out else msg
    return out


class ConfigInvalid(ConfigError):
    """A submitted config failed validation; `errors` maps dotted field paths to messages."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k or 'config'}: {v}" for k, v in errors.items()))
        self.errors = errors


def validate(data: Any) -> AppConfig:
    """Validate a config mapping with the same models the appliance loads; raise ConfigInvalid."""
    if not isinstance(data, dict):
        raise ConfigInvalid({"": f"the config must be a JSON object, got {type(data).__name__}"})
    try:
        return AppConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigInvalid(field_errors(err)) from None


def redact(data: JsonObject) -> JsonObject:
    """A copy with every secret masked (camapp.redact holds the list); the only form a config leaves the device in."""
    return mask_config(data)


def unmask(new: JsonValue, old: JsonObject) -> JsonValue:
    """Put back secrets the client left masked, where their endpoint is unchanged; ConfigInvalid names the rest."""
    if not isinstance(new, dict):
        return new
    # Compare endpoints in canonical form (a form sends the port "1883", the saved config has 1883); an invalid
    # config is compared as sent, and validate() reports what is wrong once the secrets are back.
    with contextlib.suppress(ValidationError):
        new = AppConfig.model_validate(new).model_dump(mode="json")
    try:
        return unmask_config(new, old)
    except SecretReuseError as err:
        raise ConfigInvalid(err.errors) from None


def config_dict(cfg: AppConfig) -> dict[str, Any]:
    return cfg.model_dump(mode="json")


def trust_weakened(old: AppConfig, new: AppConfig) -> str | None:
    """What in `new` loosens the model-signature policy of `old` (it needs the admin's password), or None."""
    if not old.web.require_signed_models:
        return None
    if not new.web.require_signed_models:
        return "turning web.require_signed_models off"
    if new.web.model_public_key != old.web.model_public_key:
        return "changing web.model_public_key while signed models are required"
    return None


def apply(ctx: WebContext, data: Any, confirmed: Callable[[], bool] | None = None) -> tuple[AppConfig, list[str]]:
    """Validate, apply, then save (when there is a config file); returns the config and sections needing a restart.

    Saving only after a successful apply means a config that cannot run (a model that does not load) is never
    written, so the next start still uses the last good file. Loosening the model-signature policy also needs
    `confirmed()` (the admin re-entered their password): a stolen session alone must not switch it off.
    """
    current = ctx.get_config()
    cfg = validate(unmask(data, config_dict(current)))
    weakened = trust_weakened(current, cfg)
    if weakened and (confirmed is None or not confirmed()):
        raise AuthError(f"{weakened} needs your password: send it in the {REAUTH_HEADER} header (API) or the "
                        "'your password' field of the settings page")
    return cfg, ctx.control.execute(ApplyConfig(cfg, source="web"))


def changed(ctx: WebContext, section: str, value: Any) -> tuple[AppConfig, list[str]]:
    """Replace one top-level section (zones, motion, ...) and apply the whole config."""
    data = config_dict(ctx.get_config())
    data[section] = value
    return apply(ctx, data)
