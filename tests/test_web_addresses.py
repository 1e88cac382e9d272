"""Where the terminal tells a user to open the UI: real LAN addresses (never 0.0.0.0), the mDNS name with avahi."""

from __future__ import annotations

import pytest

from camapp.config.web import WebConfig
from camapp.web import addresses

MACHINE = {"127.0.0.1", "192.168.1.20", "172.17.0.1", "10.0.0.5", "::1", "fe80::1", "2001:db8::20"}


@pytest.mark.parametrize(
    ("host", "expect"),
    [
        ("0.0.0.0", ["10.0.0.5", "192.168.1.20", "172.17.0.1"]),  # every IPv4 LAN address, docker's bridge last
        ("::", ["10.0.0.5", "192.168.1.20", "172.17.0.1", "2001:db8::20"]),  # v6 too, no link-local (needs a zone)
        ("192.168.1.20", ["192.168.1.20"]),
        ("127.0.0.1", ["127.0.0.1"]),  # bound to loopback: that is all it answers on
    ],
)
def test_listen_addresses(host: str, expect: list[str]) -> None:
    assert addresses.listen_addresses(host, MACHINE) == expect


def test_a_machine_without_a_lan_still_gets_an_address() -> None:
    assert addresses.listen_addresses("0.0.0.0", {"127.0.0.1"}) == ["127.0.0.1"]


@pytest.mark.parametrize("avahi", [True, False])
def test_ui_urls_name_the_mdns_host_only_with_avahi(monkeypatch: pytest.MonkeyPatch, avahi: bool) -> None:
    monkeypatch.setattr(addresses, "_proc_addresses", lambda: {"127.0.0.1", "192.168.1.20"})
    monkeypatch.setattr(addresses, "mdns_name", lambda: "garage.local" if avahi else None)
    urls = addresses.ui_urls(WebConfig(), 8443)
    assert urls == (["https://garage.local:8443/"] if avahi else []) + ["https://192.168.1.20:8443/"]
    assert addresses.ui_urls(WebConfig(https=False, host="::1"), 80) == ["http://[::1]/"]


def test_base_url_prefers_public_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(addresses, "_proc_addresses", lambda: {"192.168.1.20"})
    monkeypatch.setattr(addresses, "mdns_name", lambda: None)
    assert addresses.base_url(WebConfig(), 8080) == "https://192.168.1.20:8080"
    assert addresses.base_url(WebConfig(public_url="https://cam.example.lan/"), 8080) == "https://cam.example.lan"
    with pytest.raises(ValueError, match="not an http"):
        WebConfig(public_url="cam.example.lan")
