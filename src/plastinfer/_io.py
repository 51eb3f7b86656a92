"""File input and output shared by data sets, checkpoints and run folders: atomic writes and
defensive reads."""

from __future__ import annotations

import os
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .errors import DatasetError


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write ``path`` through ``write(fh)`` into a temporary file beside it, then move it
    into place: a failed write leaves any existing file untouched."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_file(path: str | os.PathLike, what: str, error: type[Exception] = DatasetError,
               noun: str = "file") -> Path:
    """``path`` as a :class:`Path` if it is an existing regular file, else ``error`` naming it
    (``what``: what it should be, e.g. "a config is a TOML file")."""
    path = Path(path)
    if not path.exists():
        raise error(f"{path}: no such {noun}")
    if not path.is_file():
        raise error(f"{path}: not a file ({what})")
    return path


def read_npz(path: str | os.PathLike, what: str = "file") -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` archive, read defensively: nothing is unpickled, each
    member's declared shape is checked against its stored size and the memory available
    *before* anything is allocated, and a damaged archive (bad zip, corrupt deflate stream,
    a ``.npy`` renamed ``.npz``, truncated members) is a :class:`DatasetError` naming the
    file — never a traceback. Returned arrays are read-only."""
    from ._checks import available_memory

    path = check_file(path, f"a {what} is an .npz file")
    try:
        with path.open("rb") as fh:
            head = fh.read(6)
    except OSError as err:
        raise DatasetError(f"{path}: cannot read ({err.strerror})") from None
    if head == b"\x93NUMPY":
        raise DatasetError(f"{path}: a single .npy array, not an .npz archive (a {what} is an .npz file)")
    if not zipfile.is_zipfile(path):
        raise DatasetError(f"{path}: not an .npz archive ({'empty file' if not head else 'unrecognised content'})")
    arrays: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
            declared = 0
            for info in members:
                if not info.filename.endswith(".npy") or "/" in info.filename or info.filename.startswith("."):
                    raise DatasetError(f"{path}: unexpected member {info.filename!r} (an .npz holds NAME.npy arrays)")
                with zf.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(fh)  # the header only
                    elif version == (2, 0):
                        shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
                    else:
                        raise DatasetError(f"{path}: field {info.filename[:-4]!r} has .npy format {version}, "
                                           "which is not read")
                    if dtype.hasobject:
                        raise DatasetError(f"{path}: field {info.filename[:-4]!r} holds Python objects; only numeric "
                                           "arrays are read (nothing is unpickled)")
                    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
                    if nbytes > info.file_size:
                        raise DatasetError(f"{path}: field {info.filename[:-4]!r} declares shape {shape} "
                                           f"({nbytes:,} bytes) but stores {info.file_size:,} bytes")
                    declared += nbytes
            free = available_memory()
            if declared > free:
                raise DatasetError(f"{path}: its arrays need {declared / 2**30:,.1f} GiB, more than the "
                                   f"{free / 2**30:,.1f} GiB available")
            for info in members:
                with zf.open(info) as fh:
                    a = np.lib.format.read_array(fh, allow_pickle=False)
                a.flags.writeable = False
                arrays[info.filename[:-4]] = a
    except DatasetError:
        raise
    except (zipfile.BadZipFile, zlib.error, ValueError, EOFError, OSError, KeyError, TypeError,
            SyntaxError, NotImplementedError, OverflowError) as err:
        raise DatasetError(f"{path}: damaged or not a {what} ({type(err).__name__}: {_short(err)})") from None
    return arrays


def _short(err: BaseException, n: int = 120) -> str:
    text = " ".join(str(err).split())
    return text if len(text) <= n else text[: n - 1] + "…"
