"""MNIST-style downloads against a local HTTP server; no outside network is touched."""

from __future__ import annotations

import gzip
import hashlib
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from engine import datasets
from engine.datasets import download
from engine.errors import UserError

N_TRAIN, N_TEST = 12, 5


def idx_gz(values: np.ndarray) -> bytes:
    """Gzipped IDX bytes for an unsigned-byte array, written independently of the parser."""
    header = struct.pack(">BBBB", 0, 0, 8, values.ndim) + struct.pack(
        f">{values.ndim}I", *values.shape
    )
    return gzip.compress(header + values.astype(np.uint8).tobytes(), mtime=0)


@dataclass
class Mirror:
    """What the local server serves, what it was asked for, and its base URL."""

    files: dict[str, bytes]
    truncate: set[str] = field(default_factory=set)
    hits: list[str] = field(default_factory=list)
    url: str = ""


def make_files(seed: int = 0) -> tuple[dict[str, bytes], dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (N_TRAIN, 28, 28)),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, N_TRAIN),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (N_TEST, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, N_TEST),
    }
    return {name: idx_gz(a) for name, a in arrays.items()}, arrays


def handler_for(mirror: Mirror) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            folder, _, name = self.path.rpartition("/")
            mirror.hits.append(name)
            body = mirror.files.get(name) if folder == "/data" else None
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2] if name in mirror.truncate else body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def mirror(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Mirror]:
    """Serve four small IDX files on 127.0.0.1 and make the checksum table match them."""
    files, _ = make_files()
    served = Mirror(dict(files))
    sums = {name: {"sha256": hashlib.sha256(data).hexdigest()} for name, data in files.items()}
    for name in ("mnist", "fashion-mnist"):
        monkeypatch.setitem(download.CHECKSUMS, name, sums)
    monkeypatch.setenv("DLTUI_DATA_DIR", str(tmp_path / "cache"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(served))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    served.url = f"http://127.0.0.1:{server.server_address[1]}/data/"
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def test_download_parses_scales_and_caches(mirror: Mirror, tmp_path: Path) -> None:
    _, arrays = make_files()
    split = datasets.load("mnist", mirrors=[mirror.url])
    assert split.X_train.shape == (N_TRAIN, 784) and split.X_test.shape == (N_TEST, 784)
    assert split.X_train.dtype == np.float64 and split.y_train.dtype == np.int64
    np.testing.assert_allclose(
        split.X_train, arrays["train-images-idx3-ubyte.gz"].reshape(N_TRAIN, -1) / 255.0
    )
    np.testing.assert_array_equal(split.y_test, arrays["t10k-labels-idx1-ubyte.gz"])
    assert split.image_shape == (28, 28) and split.n_classes == 10
    assert split.sample_shape == (1, 28, 28) and split.n_features == 784
    assert sorted(mirror.hits) == sorted(download.FILES)
    cached = sorted(p.name for p in (tmp_path / "cache" / "mnist").iterdir())
    assert cached == sorted(download.FILES)

    again = datasets.load("mnist", mirrors=[mirror.url])
    assert len(mirror.hits) == 4
    np.testing.assert_array_equal(again.X_test, split.X_test)


def test_checksum_mismatch_leaves_nothing_in_the_cache(mirror: Mirror, tmp_path: Path) -> None:
    name = "train-labels-idx1-ubyte.gz"
    data = mirror.files[name]
    mirror.files[name] = data[:20] + bytes([data[20] ^ 0xFF]) + data[21:]
    with pytest.raises(UserError, match="checksum mismatch") as err:
        datasets.load("mnist", mirrors=mirror.url)
    assert name in err.value.message
    directory = tmp_path / "cache" / "mnist"
    assert not (directory / name).exists()
    assert not [p for p in directory.iterdir() if p.name.endswith(".part")]


def test_truncated_download_leaves_nothing_in_the_cache(mirror: Mirror, tmp_path: Path) -> None:
    mirror.truncate.add("t10k-images-idx3-ubyte.gz")
    with pytest.raises(UserError, match="ended after") as err:
        datasets.load("mnist", mirrors=mirror.url)
    directory = tmp_path / "cache" / "mnist"
    assert str(directory) in err.value.hint
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    )


def test_unreachable_mirror_says_where_to_put_the_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DLTUI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DLTUI_FASHION_MNIST_MIRROR", closed_port_url())
    with pytest.raises(UserError) as err:
        datasets.load("fashion-mnist")
    hint = err.value.hint
    assert "place them by hand" in hint and str(tmp_path / "fashion-mnist") in hint
    assert all(name in hint for name in download.FILES)
    assert "could not download fashion-mnist" in err.value.message


def test_missing_file_on_a_mirror_and_fallback_to_the_next(mirror: Mirror) -> None:
    with pytest.raises(UserError, match="Not Found"):
        datasets.load("mnist", mirrors=mirror.url + "elsewhere")
    mirror.hits.clear()
    split = datasets.load("fashion-mnist", mirrors=[closed_port_url(), mirror.url])
    assert len(mirror.hits) == 4 and split.class_names[0] == "T-shirt/top"


def test_mirror_from_the_environment(mirror: Mirror, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DLTUI_MNIST_MIRROR", mirror.url.rstrip("/"))
    calls: list[tuple[str, int, int | None]] = []
    datasets.load("mnist", progress=lambda *a: calls.append(a))
    assert len(mirror.hits) == 4
    assert {c[0] for c in calls} == set(download.FILES)
    assert all(done == total for _, done, total in calls)


def test_subsets_are_seeded(mirror: Mirror) -> None:
    a, b, c = (
        datasets.load("mnist", mirrors=mirror.url, n_train=5, n_test=3, seed=s) for s in (1, 1, 2)
    )
    assert a.X_train.shape == (5, 784) and a.y_test.shape == (3,)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    assert not np.array_equal(a.X_train, c.X_train)
    with pytest.raises(UserError, match="n_train"):
        datasets.load("mnist", mirrors=mirror.url, n_train=0)


def test_files_placed_by_hand_unzipped_are_used(tmp_path: Path) -> None:
    files, arrays = make_files(seed=5)
    for name, data in files.items():
        (tmp_path / name.removesuffix(".gz")).write_bytes(gzip.decompress(data))
    split = datasets.load("mnist", data_dir=tmp_path, mirrors=closed_port_url())
    np.testing.assert_array_equal(split.y_train, arrays["train-labels-idx1-ubyte.gz"])


def test_corrupt_cached_file_is_reported(tmp_path: Path) -> None:
    files, _ = make_files()
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(files["train-images-idx3-ubyte.gz"])
    with pytest.raises(UserError, match="magic number 2051 where 2049") as err:
        datasets.load("mnist", data_dir=tmp_path)
    assert "downloaded again" in err.value.hint


def test_label_count_must_match_the_images(tmp_path: Path) -> None:
    files, _ = make_files()
    files["t10k-labels-idx1-ubyte.gz"] = idx_gz(np.zeros(N_TEST + 1))
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    with pytest.raises(UserError, match=f"{N_TEST + 1} labels for {N_TEST} images"):
        datasets.load("mnist", data_dir=tmp_path)


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DLTUI_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert download.cache_dir("mnist") == tmp_path / "xdg" / "dltui" / "data" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert download.cache_dir("mnist") == tmp_path / "home" / ".cache" / "dltui" / "data" / "mnist"
    monkeypatch.setenv("DLTUI_DATA_DIR", str(tmp_path / "mine"))
    assert download.cache_dir("fashion-mnist") == tmp_path / "mine" / "fashion-mnist"


def test_published_checksums_are_well_formed() -> None:
    lengths = {"sha256": 64, "md5": 32}
    for name in ("mnist", "fashion-mnist"):
        assert set(download.CHECKSUMS[name]) == set(download.FILES)
        for sums in download.CHECKSUMS[name].values():
            assert set(sums) == {"sha256", "md5"}
            for algorithm, digest in sums.items():
                assert len(digest) == lengths[algorithm] and int(digest, 16) >= 0
