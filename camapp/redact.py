"""Secrets: the one definition of which config values are secret, masking them in every output (API, pages, logs,
diagnostics, MQTT), and the rule for putting a masked value back when a config is saved.

A masked secret is only reused when the endpoint it authenticates to is unchanged: otherwise a client that read the
masked config could point the appliance at a host of its choosing and have the real password sent there.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

from camapp.errors import ConfigError
from camapp.types import JsonObject, JsonValue

MASK = "********"


@dataclass(frozen=True)
class SecretField:
    """A config value that is secret, and the config values naming the endpoint it is sent to."""

    path: str  # dotted config path
    endpoint: tuple[str, ...]  # dotted paths; a masked secret is reused only while these are unchanged
    what: str  # for error messages: "the MQTT password"


# THE list. Credentials inside URLs (user:password@, ?token=...) are secret in every string field as well: their
# endpoint is the URL's own scheme, host, port and path.
SECRET_FIELDS: tuple[SecretField, ...] = (
    SecretField("mqtt.password", ("mqtt.host", "mqtt.port", "mqtt.tls"), "the MQTT password"),
    SecretField("mqtt.command_key", (), "the MQTT command signing key"),  # never sent anywhere: no endpoint
)
SECRET_PATHS = frozenset(f.path for f in SECRET_FIELDS)

# Field names that look secret and are not, with the reason (a test keeps the config models and these lists in step).
NOT_SECRET: dict[str, str] = {
    "web.model_public_key": "a public key: it verifies signatures and cannot make them",
    "mqtt.fleet_public_key": "the fleet console's public key: it verifies signatures and cannot make them",
    "mqtt.tls.key": "a file path; the private key stays in the file (mode 0600), never in config or output",
}
SECRET_NAME = re.compile(r"(pass(word|wd)?|secret|token|(^|_)key|credential)s?$", re.IGNORECASE)

_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^\s/@?#]+)@")
_QUERY_SECRET = re.compile(
    r"(?P<key>[?&;](?:pass(?:word|wd)?|pwd|token|access_token|auth|key|api_?key|secret|sig(?:nature)?)=)"
    r"(?P<value>[^&;#\s]+)", re.IGNORECASE)
_PEM_PRIVATE = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)", re.DOTALL)
_MIN_KNOWN = 4  # shorter known values are not replaced in free text (they would blank out ordinary words)


class SecretReuseError(ConfigError):
    """A masked secret was sent back for a changed endpoint; `errors` maps each field to what to do."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


# ---- free text (logs, error messages, status) ------------------------------------------------------------------


def _mask_userinfo(m: re.Match[str]) -> str:
    user, sep, _ = m.group("userinfo").partition(":")
    # user:password keeps the user (helps the admin); a lone userinfo is often a token, so all of it goes.
    return f"{m.group('scheme')}{user}:{MASK}@" if sep else f"{m.group('scheme')}{MASK}@"


class _Known:
    """Secret values of the running config, replaced wherever they appear in log text."""

    def __init__(self) -> None:
        self._values: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def set(self, values: Iterable[str]) -> None:
        keep = sorted({v for v in values if len(v) >= _MIN_KNOWN and v != MASK}, key=len, reverse=True)
        with self._lock:
            self._values = tuple(keep)

    def get(self) -> tuple[str, ...]:
        with self._lock:
            return self._values


KNOWN = _Known()


def redact_text(text: str, *, known: bool = True) -> str:
    """Text with URL credentials, secret query parameters, private keys and (if `known`) the running config's
    secret values masked."""
    if not text:
        return text
    text = _URL_USERINFO.sub(_mask_userinfo, text)
    text = _QUERY_SECRET.sub(lambda m: m.group("key") + MASK, text)
    text = _PEM_PRIVATE.sub("-----(private key masked)-----", text)
    for value in KNOWN.get() if known else ():
        text = text.replace(value, MASK)
    return text


# ---- config dictionaries ---------------------------------------------------------------------------------------


StringFn = Callable[[str, str], str]  # (a string value, its dotted path) -> the value to keep


def get_path(data: JsonValue, dotted: str) -> JsonValue:
    """The value at a dotted path (`mqtt.tls.ca`) of nested dicts; None where the path does not exist."""
    for part in dotted.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def _set_path(data: JsonObject, dotted: str, value: JsonValue) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        nxt = data.get(part)
        if not isinstance(nxt, dict):
            return
        data = nxt
    if last in data:
        data[last] = value


def _map_object(data: JsonObject, fn: StringFn, path: str = "") -> JsonObject:
    """A copy of `data` with `fn` applied to every string in it, at any depth."""
    return {k: _map_strings(v, fn, f"{path}.{k}" if path else str(k)) for k, v in data.items()}


def _map_strings(data: JsonValue, fn: StringFn, path: str = "") -> JsonValue:
    if isinstance(data, dict):
        return _map_object(data, fn, path)
    if isinstance(data, list):
        return [_map_strings(v, fn, f"{path}.{i}") for i, v in enumerate(data)]
    return fn(data, path) if isinstance(data, str) else data


def mask_config(data: JsonObject) -> JsonObject:
    """A copy of a config dict fit to show an admin: secret fields masked, credentials in strings masked."""
    # Not the known values: a user name equal to the password would come back masked and be saved as the mask.
    out = _map_object(data, lambda s, _p: redact_text(s, known=False))
    for f in SECRET_FIELDS:
        if get_path(data, f.path):
            _set_path(out, f.path, MASK)
    return out


def secret_values(data: JsonObject) -> list[str]:
    """Every secret value in a config dict (fields, URL passwords, secret query values), for log redaction."""
    values = [str(v) for f in SECRET_FIELDS if (v := get_path(data, f.path))]
    found: list[str] = []

    def collect(text: str, _path: str) -> str:
        found.extend(_url_secrets(text))
        return text

    _map_object(data, collect)
    return values + found


def _urls(text: str) -> Iterator[str]:
    return (m.group(0) for m in re.finditer(r"\b[A-Za-z][A-Za-z0-9+.-]*://\S+", text))


def _url_secrets(text: str) -> list[str]:
    out = []
    for url in _urls(text):
        parts = _split(url)
        if parts is not None and parts.password:
            out.append(parts.password)
        elif parts is not None and parts.username and "@" in parts.netloc:
            out.append(parts.username)
        out.extend(m.group("value") for m in _QUERY_SECRET.finditer(url))
    return out


def _split(url: str) -> SplitResult | None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return None
    return parts


def _endpoint(parts: SplitResult) -> tuple[str, str | None, int | None, str]:
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port, parts.path


def _restore_url(new: str, old_urls: list[str]) -> str | None:
    """`new` with its masked credentials taken from the old URL to the same endpoint; None when there is none."""
    parts = _split(new)
    if parts is None:
        return None
    for old in old_urls:
        before = _split(old)
        if before is None or _endpoint(before) != _endpoint(parts):
            continue
        netloc = parts.netloc
        if MASK in parts.netloc.rpartition("@")[0]:
            userinfo, _, host = parts.netloc.rpartition("@")
            old_user = before.netloc.rpartition("@")[0]
            user, sep, password = userinfo.partition(":")
            if sep and password == MASK and before.password is not None:
                userinfo = f"{user}:{before.password}"
            elif userinfo == MASK and old_user:
                userinfo = old_user
            else:
                return None
            netloc = f"{userinfo}@{host}"
        query = _restore_query(parts.query, before.query)
        if query is None:
            return None
        return urlunsplit(parts._replace(netloc=netloc, query=query))
    return None


def _restore_query(new: str, old: str) -> str | None:
    old_values = {m.group("key").lstrip("?&;").lower(): m.group("value") for m in _QUERY_SECRET.finditer("?" + old)}

    def put_back(m: re.Match[str]) -> str:
        if m.group("value") != MASK:
            return m.group(0)
        key = m.group("key")
        value = old_values.get(key.lstrip("?&;").lower())
        if value is None:
            raise KeyError(key)
        return key + value

    try:
        return _QUERY_SECRET.sub(put_back, "?" + new)[1:]
    except KeyError:
        return None


def _unmask_string(new: str, old: JsonValue, path: str, errors: dict[str, str]) -> str:
    if MASK not in new:
        return new
    old_urls = list(_urls(old)) if isinstance(old, str) else []
    out = new
    for url in _urls(new):
        if MASK not in url:
            continue
        restored = _restore_url(url, old_urls)
        if restored is None:
            errors[path] = ("the URL's credentials are masked but its scheme, host, port or path changed (or it had "
                            "none): type the user name and password into the URL again")
            return new
        out = out.replace(url, restored, 1)
    return out


def unmask_config(new: JsonObject, old: JsonObject) -> JsonObject:
    """Put back the secrets a client sent masked; SecretReuseError names each one whose endpoint changed."""
    errors: dict[str, str] = {}
    out = _map_object(new, lambda s, p: _unmask_string(s, get_path(old, p), p, errors))
    for f in SECRET_FIELDS:
        if get_path(new, f.path) != MASK:
            continue
        old_value = get_path(old, f.path)
        moved = [e for e in f.endpoint if get_path(new, e) != get_path(old, e)]
        if not old_value:
            errors[f.path] = f"{f.what} is masked but none is saved: enter it"
        elif moved:
            errors[f.path] = (f"{', '.join(moved)} changed, so {f.what} must be entered again (a saved secret is "
                              "only reused for the endpoint it was entered for)")
        else:
            _set_path(out, f.path, old_value)
    if errors:
        raise SecretReuseError(errors)
    return out


# ---- logging ---------------------------------------------------------------------------------------------------


class RedactingRecord(logging.LogRecord):
    """A log record whose message and traceback text pass through redact_text, for every handler and library."""

    def getMessage(self) -> str:
        return redact_text(super().getMessage())

    @property
    def exc_text(self) -> str | None:
        return self._exc_text

    @exc_text.setter
    def exc_text(self, value: str | None) -> None:
        self._exc_text = redact_text(value) if value else value


def install_log_redaction() -> None:
    """Make every log record (ours and libraries') redact secrets; idempotent."""
    if logging.getLogRecordFactory() is not RedactingRecord:
        logging.setLogRecordFactory(RedactingRecord)


def use_config_secrets(data: JsonObject) -> None:
    """Remember the running config's secret values so log text never shows them, whatever prints them."""
    KNOWN.set(secret_values(data))
