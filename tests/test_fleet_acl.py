"""The Mosquitto ACL of docs/fleet.md, as written there: appliances cannot write any appliance's fleet topics, the
console can; each appliance reads only its own."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from conftest import ROOT
from mqtt_broker import HOST, Broker
from paho.mqtt.enums import CallbackAPIVersion
from test_mqtt_sink import need_mosquitto

pytestmark = pytest.mark.broker
USERS = {"fleet-console": "pw-console", "door-1": "pw-door-1", "door-2": "pw-door-2"}


class AclBroker(Broker):
    def _mosquitto_conf(self) -> Path:
        conf = super()._mosquitto_conf()
        text = (ROOT / "docs" / "fleet.md").read_text()
        acl = re.search(r"<!-- acl:begin -->\n```\n(.*?)```\n<!-- acl:end -->", text, re.S)
        assert acl is not None, "docs/fleet.md lost its ACL block"
        (self.workdir / "acl").write_text(acl.group(1))
        conf.write_text(conf.read_text() + f"acl_file {self.workdir / 'acl'}\n")
        return conf


def client(broker: Broker, user: str) -> Any:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{user}-{time.monotonic_ns()}")
    c.username_pw_set(user, USERS[user])
    c.received = []
    c.on_message = lambda _c, _u, m: c.received.append((m.topic, m.payload.decode()))
    c.connect(HOST, broker.port, 5)
    c.loop_start()
    return c


def publish(broker: Broker, user: str, topic: str, payload: str) -> None:
    c = client(broker, user)
    c.publish(topic, payload, qos=1, retain=True).wait_for_publish(5)
    c.disconnect()
    c.loop_stop()


def seen(broker: Broker, user: str, topic: str) -> list[tuple[str, str]]:
    c = client(broker, user)
    c.subscribe(topic, 1)
    time.sleep(0.5)
    c.disconnect()
    c.loop_stop()
    return list(c.received)


def test_only_the_console_writes_fleet_topics(tmp_path: Path) -> None:
    need_mosquitto("ACLs")
    with AclBroker(tmp_path / "broker", users=USERS) as broker:
        publish(broker, "fleet-console", "camapp/door-1/fleet/desired", "from the console")
        publish(broker, "door-2", "camapp/door-1/fleet/desired", "door-2 overwriting")
        publish(broker, "door-2", "camapp/door-1/fleet/command", "door-2 commanding")
        publish(broker, "door-1", "camapp/door-1/fleet/desired", "door-1 itself")
        publish(broker, "door-1", "camapp/door-1/stats", "door-1 stats")
        publish(broker, "door-2", "camapp/door-1/stats", "door-2 forging stats")
        publish(broker, "door-1", "camapp/door-1/fleet/reported", "door-1 reported")
        assert seen(broker, "door-1", "camapp/door-1/fleet/#") == [("camapp/door-1/fleet/desired",
                                                                    "from the console")]
        assert seen(broker, "fleet-console", "camapp/+/stats") == [("camapp/door-1/stats", "door-1 stats")]
        assert seen(broker, "fleet-console", "camapp/+/fleet/reported") == [("camapp/door-1/fleet/reported",
                                                                            "door-1 reported")]
        assert seen(broker, "door-2", "camapp/door-1/#") == []
