"""Create a TFLite interpreter: ai-edge-litert first, tflite-runtime as fallback, optional Coral EdgeTPU delegate.

The runtimes are imported here, lazily, so `import camapp` works on a machine without either.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from camapp.detect import trust
from camapp.errors import ChecksumError, DetectorUnavailableError, ModelError

log = logging.getLogger(__name__)

EdgeTPUMode = Literal["auto", "on", "off"]
INSTALL_ADVICE = "pip install ai-edge-litert (preferred) or pip install tflite-runtime"
_EDGETPU_LIBS = {"Linux": "libedgetpu.so.1", "Darwin": "libedgetpu.1.dylib", "Windows": "edgetpu.dll"}


@dataclass
class LoadedInterpreter:
    """An allocated interpreter and what it runs on."""

    interpreter: Any
    runtime: str  # "ai-edge-litert" or "tflite-runtime"
    model_path: Path
    edgetpu: bool
    content: bytes = field(repr=False)  # the exact verified bytes the interpreter was built from; kept alive


def runtime_module() -> tuple[str, Any]:
    """The interpreter module of the first installed runtime, with its name."""
    try:
        from ai_edge_litert import interpreter as litert

        return "ai-edge-litert", litert
    except ImportError:
        pass
    try:
        from tflite_runtime import interpreter as tflite

        return "tflite-runtime", tflite
    except ImportError:
        pass
    raise DetectorUnavailableError(f"no TFLite runtime is installed; {INSTALL_ADVICE}")


def read_model(path: Path, sha256: str | None = None) -> bytes:
    """Read a model file; with sha256, refuse bytes that do not match (the bytes checked are the bytes used)."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ModelError(f"{path}: cannot read model: {err.strerror or err}") from None
    if sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise ChecksumError(f"{path}: sha256 is {actual}, expected {sha256}; refusing to use it")
    return data


def _edgetpu_delegate(module: Any, mode: EdgeTPUMode) -> Any | None:
    """The EdgeTPU delegate, None when it is off or (in auto) libedgetpu is missing."""
    if mode == "off":
        return None
    lib = _EDGETPU_LIBS.get(platform.system(), "libedgetpu.so.1")
    try:
        # Probe with ctypes first: a failed load_delegate() leaves a half-built Delegate whose __del__ spews
        # "Exception ignored" tracebacks on stderr (ai-edge-litert 2.x).
        ctypes.CDLL(lib)
        return module.load_delegate(lib)
    except (ValueError, OSError, RuntimeError, AttributeError) as err:
        if mode == "on":
            raise ModelError(
                f"model.edgetpu is 'on' but the EdgeTPU delegate ({lib}) could not be loaded: {err}; "
                "install libedgetpu1-std and plug in the Coral device, or set model.edgetpu to auto/off"
            ) from None
        log.info("EdgeTPU delegate not available (%s); running the model on the CPU", lib)
        return None


def load_interpreter(
    model_path: Path,
    threads: int = 2,
    edgetpu: EdgeTPUMode = "auto",
    *,
    sha256: str | None = None,
    edgetpu_model: tuple[Path, str | None] | None = None,
) -> LoadedInterpreter:
    """Build and allocate one interpreter.

    With the EdgeTPU delegate loaded, `edgetpu_model` (path, sha256) — the EdgeTPU-compiled file — is used instead
    of `model_path`; a CPU model on the delegate would silently run on the CPU anyway.
    """
    name, module = runtime_module()
    delegate = _edgetpu_delegate(module, edgetpu)
    path, checksum = model_path, sha256
    if delegate is not None and edgetpu_model is None:
        if edgetpu == "on":
            raise ModelError(f"model.edgetpu is 'on' but the manifest for {model_path.name} has no edgetpu_file")
        log.info("EdgeTPU found but %s has no EdgeTPU-compiled file; running on the CPU", model_path.name)
        delegate = None
    elif delegate is not None and edgetpu_model is not None:
        path, checksum = edgetpu_model
    content = read_model(path, checksum)
    trust.check_loaded(path, content)  # the signature policy, on the very bytes the interpreter gets
    try:
        interpreter = module.Interpreter(
            model_content=content, num_threads=threads, experimental_delegates=[delegate] if delegate else None
        )
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as err:
        raise ModelError(f"{path}: not a usable TFLite model: {str(err).strip().splitlines()[0]}") from None
    log.info("loaded %s with %s (%d threads%s)", path.name, name, threads, ", EdgeTPU" if delegate else "")
    return LoadedInterpreter(interpreter, name, path, delegate is not None, content)
