"""camapp: a smart-camera appliance with on-device detection and no video leaving the house."""

__version__ = "0.1.0"
