"""Build the detector the `model` section names, by its `type`, under the model-signature policy."""

from __future__ import annotations

from camapp.config.core import DETECTORS, ModelConfig
from camapp.detect import Detector, trust
from camapp.detect.trust import ModelTrust


def build_detector(cfg: ModelConfig, policy: ModelTrust | None = None) -> Detector:
    """The detector the `model` section asks for; ConfigError for a backend nothing registered. With a `policy`
    (the config's web.require_signed_models / model_public_key), it is installed first and kept only if the model
    loads under it."""
    build = DETECTORS.builder(cfg.type)
    if policy is None:
        return build(cfg)
    previous = trust.install(policy)
    try:
        detector = build(cfg)
    except BaseException:
        trust.install(previous)
        raise
    return detector
