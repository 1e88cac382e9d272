"""The addresses a person can open the UI at: every LAN address the server answers on (never 0.0.0.0), the mDNS
name when avahi announces this host, and the one base URL that links (MQTT event URLs) point to.
"""

from __future__ import annotations

import ipaddress
import shutil
import socket
from pathlib import Path

from camapp.config.web import WebConfig
from camapp.web.hosts import _proc_addresses

AVAHI_PID = Path("/run/avahi-daemon/pid")


def _usable(address: str) -> bool:
    """An address another device on the LAN can reach (no loopback, no link-local IPv6 needing a zone id)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_unspecified or ip.is_multicast or (ip.version == 6 and ip.is_link_local))


def _order(address: str) -> tuple[int, bool, str]:
    """IPv4 first, a container bridge's address (docker0: 172.17.x) after the others."""
    return (ipaddress.ip_address(address).version, address.startswith("172.17."), address)


def listen_addresses(host: str, found: set[str] | None = None) -> list[str]:
    """The addresses the server bound to `host` answers on for other devices: all of this machine's for a wildcard
    (0.0.0.0: IPv4, :: also IPv6), else the one address; loopback only when that is all there is."""
    local = _proc_addresses() if found is None else found
    if host in ("0.0.0.0", ""):
        picked = [a for a in local if _usable(a) and ipaddress.ip_address(a).version == 4]
    elif host == "::":
        picked = [a for a in local if _usable(a)]
    else:
        picked = [host]
    return sorted(picked, key=_order) or ["127.0.0.1"]


def mdns_name() -> str | None:
    """`<hostname>.local` when avahi runs here (it answers that name on the LAN), else None."""
    if not (AVAHI_PID.exists() or shutil.which("avahi-daemon")):
        return None
    host = socket.gethostname().split(".")[0]
    return f"{host}.local" if host and host != "localhost" else None


def url(scheme: str, host: str, port: int, path: str = "/") -> str:
    shown = f"[{host}]" if ":" in host else host
    default = (scheme, port) in (("http", 80), ("https", 443))
    return f"{scheme}://{shown}{'' if default else f':{port}'}{path}"


def ui_urls(web: WebConfig, port: int, path: str = "/") -> list[str]:
    """Every URL the UI can be opened at from another device: the mDNS name first (it survives a new DHCP lease)."""
    scheme = "https" if web.https else "http"
    hosts = listen_addresses(web.host)
    name = mdns_name()
    if name is not None and web.host in ("0.0.0.0", "::", ""):
        hosts = [name, *hosts]
    return [url(scheme, h, port, path) for h in hosts]


def base_url(web: WebConfig, port: int | None = None) -> str:
    """Where links to this appliance point: web.public_url when set, else its first LAN URL."""
    if web.public_url:
        return web.public_url.rstrip("/")
    return ui_urls(web, web.port if port is None else port, "")[0]
