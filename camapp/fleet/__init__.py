"""The fleet: a console that sees and manages many appliances through the MQTT broker (camapp fleet -c fleet.yaml),
and the appliance's side of it (camapp/fleet/agent.py): signed desired configs and commands in, reported state out.
"""
