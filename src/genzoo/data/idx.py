"""IDX files (the MNIST family's format): parsing, finding, verifying and downloading them.

The IDX format (LeCun et al., http://yann.lecun.com/exdb/mnist/) is a 4-byte magic number
``00 00 TT NN`` (TT the element type, NN the number of dimensions), then NN big-endian
uint32 sizes, then the elements in C order.

A dataset made of IDX files is described by an :class:`IdxDataset`; :func:`load_idx_dataset`
finds its files (``root``, then ``$GENZOO_DATA``, then the user cache folder, each in a
sub-folder named after the dataset), verifies them, downloads them into the cache folder when
they are nowhere, and returns the parsed arrays. Verification results are remembered in a
small JSON stamp beside the files (keyed by size and modification time), so a repeated load
does not hash ~50 MB again.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import tempfile
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GenzooError

log = logging.getLogger(__name__)

#: IDX element-type codes -> numpy dtypes (multi-byte types are big-endian).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

#: Name of the JSON file, beside the data files, remembering which files passed verification.
STAMP_NAME = ".genzoo-verified.json"


def parse_idx(data: bytes, source: str = "IDX data") -> np.ndarray:
    """Parse the bytes of one (decompressed) IDX file into an array of its stated shape.

    Args:
        data: the whole file content.
        source: how to name the file in error messages.

    Returns:
        A read-only array viewing ``data`` (no copy), of the dtype and shape in the header.

    Raises:
        GenzooError: bad magic number, unknown element type, or a size that does not match
            the header.
    """
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES:
        raise GenzooError(f"{source} is not an IDX file (bad magic number {data[:4].hex()}); replace it with the original")
    dtype, ndim = IDX_DTYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise GenzooError(f"{source} is truncated inside its IDX header; replace it with the original")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise GenzooError(
            f"{source} holds {len(data)} bytes but its IDX header {shape} needs {expected}; replace it with the original"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def write_idx(array: np.ndarray) -> bytes:
    """The IDX encoding of ``array`` (inverse of :func:`parse_idx`); used to build test fixtures."""
    codes = {dt: code for code, dt in IDX_DTYPES.items()}
    dtype = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    if dtype not in codes:
        raise GenzooError(f"IDX cannot store dtype {array.dtype}; use uint8, int8, int16, int32, float32 or float64")
    header = bytes([0, 0, codes[dtype], array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(array, dtype=dtype).tobytes()


@dataclass(frozen=True)
class IdxFile:
    """One file of an IDX dataset and how to check it.

    Attributes:
        name: file name without ``.gz`` (``train-images-idx3-ubyte``).
        shape: the array shape it must hold, e.g. ``(60000, 28, 28)``.
        sha256: sha256 of the *decompressed* content, when known: the strongest check, valid
            for any re-compression of the file.
        md5_gz: md5 of the mirrors' ``.gz`` file, when known: checks downloads, and local
            ``.gz`` files that are byte-identical to the mirrors'.
    """

    name: str
    shape: tuple[int, ...]
    sha256: str | None = None
    md5_gz: str | None = None


@dataclass(frozen=True)
class IdxDataset:
    """A dataset stored as IDX files: sub-folder name, download mirrors and its files."""

    name: str
    mirrors: tuple[str, ...]
    files: tuple[IdxFile, ...]


def cache_dir() -> Path:
    """The user cache folder for downloads: ``$XDG_CACHE_HOME/genzoo`` or ``~/.cache/genzoo``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "genzoo"


def search_folders(name: str, root: str | os.PathLike[str] | None = None) -> list[Path]:
    """Where dataset ``name`` is looked for, in order: ``root``, ``$GENZOO_DATA``, the cache."""
    bases = [root, os.environ.get("GENZOO_DATA") or None, cache_dir()]
    out: list[Path] = []
    for base in bases:
        if base is not None:
            folder = Path(base).expanduser().absolute() / name
            if folder not in out:
                out.append(folder)
    return out


def _locate(folder: Path, spec: IdxDataset) -> dict[str, Path]:
    """The files of ``spec`` present in ``folder`` (``NAME.gz`` preferred over plain ``NAME``)."""
    found: dict[str, Path] = {}
    for f in spec.files:
        for candidate in (folder / f"{f.name}.gz", folder / f.name):
            if candidate.is_file():
                found[f.name] = candidate
                break
    return found


def _read_stamp(folder: Path) -> dict[str, Any]:
    try:
        stamp = json.loads((folder / STAMP_NAME).read_text())
        return stamp if isinstance(stamp, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_stamp(folder: Path, stamp: dict[str, Any]) -> None:
    """Atomically write the stamp (temp file + rename); a read-only folder goes without one."""
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f"{STAMP_NAME}.", suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(stamp, fh, indent=1, sort_keys=True)
        os.replace(tmp, folder / STAMP_NAME)
    except OSError:
        Path(tmp).unlink(missing_ok=True)


def _expected(f: IdxFile) -> str:
    return f"sha256:{f.sha256}" if f.sha256 else f"md5:{f.md5_gz}"


def _read_verified(path: Path, f: IdxFile, stamp: dict[str, Any]) -> np.ndarray:
    """Read, verify and parse one file, updating ``stamp[path.name]`` when it passes."""
    raw = path.read_bytes()
    try:
        content = gzip.decompress(raw) if path.suffix == ".gz" else raw
    except (OSError, EOFError, zlib.error) as e:
        raise GenzooError(f"{path} is not a valid gzip file ({e}); delete it so it is fetched again, or replace it") from None
    st = path.stat()
    key = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "expected": _expected(f)}
    entry = stamp.get(path.name)
    if not (isinstance(entry, dict) and {k: entry.get(k) for k in key} == key):
        if f.sha256:
            if hashlib.sha256(content).hexdigest() != f.sha256:
                raise GenzooError(
                    f"{path} is corrupt (sha256 of its content is not the published one); "
                    "delete it so it is downloaded again, or replace it with the original"
                )
            result = "sha256"
        elif f.md5_gz and path.suffix == ".gz" and hashlib.md5(raw, usedforsecurity=False).hexdigest() == f.md5_gz:
            result = "md5"
        else:
            # No checksum applies (an uncompressed or re-compressed copy): the strict header
            # and shape checks below are then the verification.
            result = "structure"
        stamp[path.name] = {**key, "result": result}
    array = parse_idx(content, str(path))
    if array.shape != f.shape or array.dtype != np.uint8:
        stamp.pop(path.name, None)
        raise GenzooError(
            f"{path} holds a {array.dtype} array of shape {array.shape}, expected uint8 {f.shape}; "
            "replace it with the original file"
        )
    return array


def _download(url: str, dest: Path, timeout: float = 60.0) -> None:
    """Stream ``url`` into the file ``dest`` (tests replace this function to stay offline)."""
    request = urllib.request.Request(url, headers={"User-Agent": "genzoo"})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(dest, "wb") as out:
        while chunk := response.read(1 << 20):
            out.write(chunk)


def _fetch(spec: IdxDataset, folder: Path, missing: list[IdxFile]) -> None:
    """Download ``missing`` files into ``folder``: temp file, checksum, then atomic rename.

    Raises:
        OSError: when some file could not be fetched from any mirror (the message says why).
    """
    folder.mkdir(parents=True, exist_ok=True)
    for f in missing:
        errors: list[str] = []
        for mirror in spec.mirrors:
            url = f"{mirror}{f.name}.gz"
            fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{f.name}.gz.", suffix=".part")
            os.close(fd)
            tmp = Path(tmp_name)
            try:
                log.info("downloading %s", url)
                _download(url, tmp)
                raw = tmp.read_bytes()
                if f.md5_gz and hashlib.md5(raw, usedforsecurity=False).hexdigest() != f.md5_gz:
                    raise OSError("md5 checksum mismatch")
                if f.sha256 and hashlib.sha256(gzip.decompress(raw)).hexdigest() != f.sha256:
                    raise OSError("sha256 checksum mismatch")
                os.replace(tmp, folder / f"{f.name}.gz")
                break
            except Exception as e:  # network, HTTP, gzip and checksum errors alike: try the next mirror
                errors.append(f"{url}: {e}")
            finally:
                tmp.unlink(missing_ok=True)
        else:
            raise OSError("; ".join(errors) or "no mirror is known")


def _missing_dirs(folder: Path) -> list[Path]:
    """``folder`` and those of its ancestors that do not exist yet, deepest first."""
    out = []
    p = folder
    while not p.exists() and p != p.parent:
        out.append(p)
        p = p.parent
    return out


def _remove_if_empty(dirs: list[Path]) -> None:
    """Remove the folders of ``dirs`` (deepest first) that are empty; stop at the first that is not."""
    for d in dirs:
        try:
            d.rmdir()
        except OSError:
            return


def load_idx_dataset(
    spec: IdxDataset, root: str | os.PathLike[str] | None = None, download: bool = True
) -> list[np.ndarray]:
    """Find (or download), verify and parse the files of ``spec``.

    The first folder of :func:`search_folders` holding all files is used; when none does and
    ``download`` is set, the missing files are downloaded into the cache folder.

    Args:
        spec: the dataset's files, checksums and mirrors.
        root: folder searched first (its sub-folder ``spec.name``).
        download: whether to download the files when they are found nowhere.

    Returns:
        One uint8 array per file of ``spec.files``, in that order.

    Raises:
        GenzooError: files missing everywhere (and not downloadable), or failing verification.
    """
    folders = search_folders(spec.name, root)
    chosen: tuple[Path, dict[str, Path]] | None = None
    for folder in folders:
        found = _locate(folder, spec)
        if len(found) == len(spec.files):
            chosen = (folder, found)
            break
    if chosen is None:
        cache = folders[-1]
        reason = "downloading is turned off (download=False)"
        if download:
            have = _locate(cache, spec)
            created = _missing_dirs(cache)
            try:
                _fetch(spec, cache, [f for f in spec.files if f.name not in have])
                chosen = (cache, _locate(cache, spec))
            except OSError as e:
                reason = f"downloading them into {cache} failed ({e})"
                _remove_if_empty(created)  # a failed lookup leaves no empty folder in the cache
        if chosen is None:
            env = "" if os.environ.get("GENZOO_DATA") else " (GENZOO_DATA is not set)"
            names = ", ".join(f"{f.name}.gz" for f in spec.files)
            raise GenzooError(
                f"{spec.name} data not found: expected {names} in one of {', '.join(map(str, folders))}{env}, "
                f"and {reason}; put the files in DIR/{spec.name}/ and set GENZOO_DATA=DIR or pass --data-root DIR"
            )
    folder, found = chosen
    stamp = _read_stamp(folder)
    before = json.dumps(stamp, sort_keys=True)
    arrays = [_read_verified(found[f.name], f, stamp) for f in spec.files]
    if json.dumps(stamp, sort_keys=True) != before:
        _write_stamp(folder, stamp)
    return arrays
