"""`make bench`: pipeline speed, tracking against ground truth, recording, live latency and memory.

`python -m camapp.bench` runs the offline figures (main.py); `python -m camapp.bench.live` the live ones.
"""
