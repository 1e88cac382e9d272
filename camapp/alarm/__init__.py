"""GPIO alarms: outputs (buzzer, LED, relay), inputs (arm button, PIR, door) and the rules sink.

Importing this package never imports gpiozero or Jetson.GPIO; they load when hardware is built.
"""

from camapp.alarm.outputs import AlarmOutput, alarm_safety, safe_all
from camapp.alarm.sink import AlarmSink, alert_for

__all__ = ["AlarmOutput", "AlarmSink", "alarm_safety", "alert_for", "safe_all"]
