"""Downloading MNIST and Fashion-MNIST once, verified, into a per-user cache.

Each file is streamed into a temporary file next to its final place, its checksum is compared
with the published one, and only then is it renamed into place (``os.replace`` is atomic), so an
interrupted or corrupt download never leaves a file that looks complete. Files already in the
cache are not downloaded again; the IDX parser still checks their structure when they are read.
When no mirror can be reached the error says exactly where to put the files by hand.

Only :mod:`urllib` is used, so downloading needs no extra dependency. It (and the SSL library
behind it) is imported on the first download, not with this module, which every start imports.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from engine.errors import UserError

if TYPE_CHECKING:
    import hashlib

FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": ("https://storage.googleapis.com/cvdf-datasets/mnist/",),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
}
"""Base URLs tried in order; ``DLTUI_MNIST_MIRROR`` / ``DLTUI_FASHION_MNIST_MIRROR`` override."""

MIRROR_ENV = {"mnist": "DLTUI_MNIST_MIRROR", "fashion-mnist": "DLTUI_FASHION_MNIST_MIRROR"}

# Published checksums of the gzip files, keyed by set, file and hash algorithm. The
# strongest algorithm present is the one checked (see PREFERENCE).
CHECKSUMS: dict[str, dict[str, dict[str, str]]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": {
            "sha256": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "md5": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        },
        "train-labels-idx1-ubyte.gz": {
            "sha256": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "md5": "d53e105ee54ea40749a09fcbcd1e9432",
        },
        "t10k-images-idx3-ubyte.gz": {
            "sha256": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "md5": "9fb629c4189551a2d022fa330f9573f3",
        },
        "t10k-labels-idx1-ubyte.gz": {
            "sha256": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            "md5": "ec29112dd5afa0611ce80d1b7f02629c",
        },
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": {
            "sha256": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "md5": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        },
        "train-labels-idx1-ubyte.gz": {
            "sha256": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "md5": "25c81989df183df01b3e8a0aad5dffbe",
        },
        "t10k-images-idx3-ubyte.gz": {
            "sha256": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "md5": "bef4ecab320f06d8554ea6380940ec79",
        },
        "t10k-labels-idx1-ubyte.gz": {
            "sha256": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            "md5": "bb300cfdad3c16e7a12a480ee83cd310",
        },
    },
}

PREFERENCE = ("sha256", "sha1", "md5")
MAX_BYTES = 64 * 2**20
"""No file of these sets is larger; a longer response is not the file asked for."""

TIMEOUT_S = 30.0
_CHUNK = 2**16

Progress = Callable[[str, int, int | None], None]
"""Called as ``progress(filename, bytes_so_far, total_or_None)`` while a file downloads."""


def cache_dir(name: str) -> Path:
    """Return the folder that holds the files of data set ``name``.

    ``$DLTUI_DATA_DIR/<name>`` if that variable is set, else ``$XDG_CACHE_HOME/dltui/data/<name>``,
    else ``~/.cache/dltui/data/<name>``.
    """
    root = os.environ.get("DLTUI_DATA_DIR")
    if root:
        return Path(root).expanduser() / name
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "dltui" / "data" / name


def mirrors_for(name: str, mirrors: Sequence[str] | str | None = None) -> tuple[str, ...]:
    """Return the base URLs to try: the argument, else the environment, else :data:`MIRRORS`."""
    if mirrors is None:
        mirrors = os.environ.get(MIRROR_ENV[name]) or MIRRORS[name]
    if isinstance(mirrors, str):
        mirrors = [m for m in mirrors.split(",") if m.strip()]
    return tuple(m.strip() if m.strip().endswith("/") else m.strip() + "/" for m in mirrors)


def _expected(name: str, filename: str) -> tuple[str, str]:
    """Return the strongest published (algorithm, hex digest) for a file."""
    sums = CHECKSUMS[name][filename]
    algorithm = next(a for a in PREFERENCE if a in sums)
    return algorithm, sums[algorithm].lower()


def _stream(url: str, out: BinaryIO, digest: hashlib._Hash, progress: Progress | None) -> None:
    """Copy the response body of ``url`` into ``out`` while hashing it."""
    import urllib.request

    filename = url.rsplit("/", 1)[-1]
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        done = 0
        while chunk := response.read(_CHUNK):
            done += len(chunk)
            if done > MAX_BYTES:
                raise OSError(f"response larger than {MAX_BYTES} bytes")
            digest.update(chunk)
            out.write(chunk)
            if progress is not None:
                progress(filename, done, total)
    if total is not None and done != total:
        raise OSError(f"download ended after {done} of {total} bytes")


def _fetch_one(name: str, url: str, target: Path, progress: Progress | None) -> None:
    """Download ``url`` to ``target`` atomically, or raise with the reason and leave nothing.

    Raises:
        OSError: on a network error, a short read or a checksum mismatch.
    """
    import hashlib
    import tempfile

    algorithm, expected = _expected(name, target.name)
    digest = hashlib.new(algorithm)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            _stream(url, out, digest, progress)
        if digest.hexdigest() != expected:
            raise OSError(
                f"{algorithm} checksum mismatch (got {digest.hexdigest()}, expected {expected})"
            )
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def by_hand(name: str, directory: Path, mirrors: Sequence[str], reason: str) -> UserError:
    """The error for a failed download: what went wrong and where to put the files by hand."""
    return UserError(
        f"could not download {name} into {directory}: {reason}",
        f"download {', '.join(FILES)} from {mirrors[0] if mirrors else 'a mirror'} by other "
        f"means and place them by hand in {directory} (gzipped as published, or unzipped "
        "without the .gz), then run again",
    )


def local_file(directory: Path, filename: str) -> Path | None:
    """Return the cached file, gzipped or unzipped, or None if neither is there."""
    for candidate in (directory / filename, directory / filename.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def fetch(
    name: str,
    mirrors: Sequence[str] | str | None = None,
    directory: Path | None = None,
    progress: Progress | None = None,
) -> dict[str, Path]:
    """Make sure the four files of ``name`` are in the cache, downloading what is missing.

    Args:
        name: "mnist" or "fashion-mnist".
        mirrors: base URLs to try in order; see :func:`mirrors_for`.
        directory: where the files live; :func:`cache_dir` by default.
        progress: optional callback for a progress display.

    Returns:
        The path of each file in :data:`FILES`, keyed by that name.

    Raises:
        UserError: if a file can be got from no mirror, saying where to place it by hand.
    """
    directory = directory or cache_dir(name)
    urls = mirrors_for(name, mirrors)
    paths: dict[str, Path] = {}
    for filename in FILES:
        found = local_file(directory, filename)
        if found is None:
            found = _download(name, filename, directory, urls, progress)
        paths[filename] = found
    return paths


def _download(
    name: str, filename: str, directory: Path, urls: Sequence[str], progress: Progress | None
) -> Path:
    """Try each mirror for one file; return its cached path or raise :func:`by_hand`'s error."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise by_hand(name, directory, urls, f"cannot create the folder ({exc})") from None
    import http.client

    reasons = []
    for base in urls:
        url = base + filename
        try:
            _fetch_one(name, url, directory / filename, progress)
            return directory / filename
        except (OSError, ValueError, http.client.HTTPException) as exc:
            reasons.append(f"{url}: {getattr(exc, 'reason', None) or exc}")
    raise by_hand(name, directory, urls, "; ".join(reasons) or "no mirror configured")
