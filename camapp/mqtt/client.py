"""Builds the paho-mqtt 2.x client: protocol, credentials, TLS / mutual TLS, last will and reconnect back-off."""

from __future__ import annotations

import ssl

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from camapp.config.mqtt import MqttConfig, TlsConfig
from camapp.errors import ConfigError

OFFLINE = "offline"
ONLINE = "online"


def ssl_context(tls: TlsConfig) -> ssl.SSLContext:
    """A client context that verifies the broker (CA file or system store) and presents our cert for mutual TLS."""
    try:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(tls.ca) if tls.ca else None)
    except (OSError, ssl.SSLError) as err:
        raise ConfigError(f"mqtt.tls.ca: cannot load CA file {tls.ca}: {err}") from None
    if tls.cert is not None and tls.key is not None:
        try:
            ctx.load_cert_chain(str(tls.cert), str(tls.key))
        except (OSError, ssl.SSLError) as err:
            raise ConfigError(f"mqtt.tls.cert/key: cannot load {tls.cert} with {tls.key}: {err}") from None
    if tls.insecure:
        ctx.check_hostname = False
    if tls.alpn:
        ctx.set_alpn_protocols(tls.alpn)
    return ctx


def build_client(cfg: MqttConfig, client_id: str, will_topic: str) -> mqtt.Client:
    """An unconnected client with a retained `offline` last will on `will_topic`."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=cfg.clean_session, protocol=mqtt.MQTTv311
    )
    if cfg.username is not None:
        client.username_pw_set(cfg.username, cfg.password)
    if cfg.tls is not None:
        client.tls_set_context(ssl_context(cfg.tls))
        if cfg.tls.insecure:
            client.tls_insecure_set(True)
    client.will_set(will_topic, OFFLINE, qos=1, retain=True)
    # paho sleeps on these values, so sub-second floats (used by the tests) work despite the int annotation.
    client.reconnect_delay_set(cfg.reconnect_min_s, cfg.reconnect_max_s)  # type: ignore[arg-type]
    client.max_inflight_messages_set(20)
    return client
