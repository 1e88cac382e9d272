"""Model trust: the signature policy every model passes before an interpreter is built from its bytes.

`check()` is called by `camapp.detect.runtime.load_interpreter` on the exact bytes it loads, so every path to a
running model (startup, a config change, an upload, activating or rolling back to a kept model, the model probe)
is checked in this one place. The wiring installs the policy from the config it builds the detector from.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from camapp.assets import MODELS_DIR
from camapp.errors import AuthError, ModelTrustError

if TYPE_CHECKING:
    from camapp.config.web import WebConfig

SIGNATURE_SUFFIX = ".sig"  # model.tflite -> model.tflite.sig: the Ed25519 signature of the model's bytes
MAX_SIGNATURE_BYTES = 1024


@dataclass(frozen=True)
class ModelTrust:
    """The policy: whether models must be signed, and by which key.

    Models shipped with the software in models/ are trusted like the software itself; everything else (uploads,
    files in the data directory, a manifest elsewhere) needs a valid signature while `require_signed` is on.
    """

    require_signed: bool = False
    public_key: str | None = None
    bundled: tuple[Path, ...] = (MODELS_DIR,)

    @classmethod
    def from_config(cls, web: WebConfig) -> ModelTrust:
        return cls(require_signed=web.require_signed_models, public_key=web.model_public_key)

    def is_bundled(self, path: Path) -> bool:
        resolved = path.resolve()
        return any(resolved.is_relative_to(d.resolve()) for d in self.bundled)

    def check(self, path: Path | None, content: bytes, signature: bytes | None = None) -> bool:
        """Raise ModelTrustError unless these model bytes may run; True when a signature verified them.

        `signature` defaults to the file next to `path` (<model>.sig). A signature that does not verify is always
        refused, policy or not, bundled or not: it means the file is not what its signer made. Without a public key
        nothing can verify it, and a signature nobody checked must not pass for one that was (issue 25).
        """
        if signature is None and path is not None:
            signature = read_signature(path)
        where = str(path) if path is not None else "the model"
        if signature is not None and not self.public_key:
            raise ModelTrustError(
                f"{where}: comes with a signature, but no web.model_public_key is set to verify it, and a signature "
                f"that cannot be verified is refused whatever web.require_signed_models says: set the signer's public "
                f"key, or offer the model without the signature (no <model>{SIGNATURE_SUFFIX} file)")
        if signature is not None and self.public_key:
            # Lazy: cryptography (13 MB resident) is loaded only when there is a signature to check.
            from camapp.web import signing

            try:
                signing.verify(self.public_key, content, signature)
            except (AuthError, ValueError) as err:  # a wrong or malformed signature, or a malformed key
                raise ModelTrustError(f"{where}: {err}") from None
            return True
        if not self.require_signed or (path is not None and self.is_bundled(path)):
            return False
        raise ModelTrustError(
            f"{where}: not signed, and web.require_signed_models is on: only models with a valid Ed25519 signature "
            f"by web.model_public_key may run (upload the .sig file with the model, or put it next to the model as "
            f"<model>{SIGNATURE_SUFFIX})")


def signature_path(model: Path) -> Path:
    return model.with_name(model.name + SIGNATURE_SUFFIX)


def read_signature(model: Path) -> bytes | None:
    """The signature stored next to a model, None when there is none."""
    path = signature_path(model)
    try:
        if path.stat().st_size > MAX_SIGNATURE_BYTES:
            raise ModelTrustError(f"{path}: larger than {MAX_SIGNATURE_BYTES} bytes; not a signature")
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise ModelTrustError(f"{path}: cannot read the signature: {err.strerror or err}") from None


class _Installed:
    def __init__(self) -> None:
        self._policy = ModelTrust()
        self._lock = threading.Lock()

    def swap(self, policy: ModelTrust) -> ModelTrust:
        with self._lock:
            previous, self._policy = self._policy, policy
            return previous

    def get(self) -> ModelTrust:
        with self._lock:
            return self._policy


_INSTALLED = _Installed()


def install(policy: ModelTrust) -> ModelTrust:
    """Make `policy` the one every model load is checked against; returns the previous one (to restore it)."""
    return _INSTALLED.swap(policy)


def current() -> ModelTrust:
    return _INSTALLED.get()


def check_loaded(path: Path, content: bytes) -> bool:
    """The check load_interpreter runs on the bytes it is about to load, against the installed policy."""
    return current().check(path, content)
