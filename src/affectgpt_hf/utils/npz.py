"""Read npz files without running code: upstream's object arrays are unpickled by a restricted unpickler.

Upstream writes dicts inside 0-d object arrays (``name2reason``, the label corpora), which ``np.load`` only reads with
``allow_pickle=True``, and a pickle can call any importable function. Here a pickle may build only plain data (dict,
list, tuple, str, bytes, int, float, bool, None) and numpy arrays and scalars of those, through the few numpy
helpers that rebuild them; any other global is refused with a ValueError naming the file, the array and the global.
Arrays without objects are read by numpy itself with ``allow_pickle=False``. Every npz read in the package goes here.
"""

from __future__ import annotations

import importlib
import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np


def _multiarray_helpers() -> dict[str, object]:
    """The numpy functions an array or scalar pickle calls, by name (numpy 2 moved numpy.core to numpy._core)."""
    for package in ("numpy._core", "numpy.core"):
        try:
            multiarray = importlib.import_module(f"{package}.multiarray")
            numeric = importlib.import_module(f"{package}.numeric")
        except ImportError:
            continue
        return {
            "_reconstruct": multiarray._reconstruct,
            "scalar": multiarray.scalar,
            "_frombuffer": numeric._frombuffer,
        }
    raise ImportError("numpy has neither numpy._core nor numpy.core")  # pragma: no cover


_HELPERS = _multiarray_helpers()
# (module, name) as written by numpy 1.x (numpy.core, upstream's 1.23.5) and numpy 2.x (numpy._core) -> the object.
ALLOWED_GLOBALS: dict[tuple[str, str], object] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    **{
        (f"{package}.multiarray", name): _HELPERS[name]
        for package in ("numpy.core", "numpy._core")
        for name in ("_reconstruct", "scalar")
    },
    **{(f"{package}.numeric", "_frombuffer"): _HELPERS["_frombuffer"] for package in ("numpy.core", "numpy._core")},
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only ``ALLOWED_GLOBALS``; ``where`` names the file and array in its errors."""

    def __init__(self, file, where: str):
        super().__init__(file, encoding="latin1")  # numpy's own choice, for Python 2 era pickles
        self.where = where

    def find_class(self, module: str, name: str):
        found = ALLOWED_GLOBALS.get((module, name))
        if found is None:
            raise ValueError(
                f"{self.where}: refused global {module}.{name} in its pickle; npz files are read as plain data only "
                "(dict, list, tuple, str, numbers, bool, None, numpy arrays and scalars)"
            )
        return found

    def persistent_load(self, pid):
        raise ValueError(f"{self.where}: refused a persistent id in its pickle; npz files are read as plain data only")


def _read_member(stream: io.BytesIO, where: str) -> np.ndarray:
    """One ``.npy`` member: numpy reads plain arrays; object arrays go through the restricted unpickler."""
    version = np.lib.format.read_magic(stream)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    _shape, _fortran, dtype = read_header(stream)
    if not dtype.hasobject:
        stream.seek(0)
        return np.lib.format.read_array(stream, allow_pickle=False)
    array = RestrictedUnpickler(stream, where).load()
    if not isinstance(array, np.ndarray):
        raise ValueError(f"{where}: its pickle holds a {type(array).__name__}; expected a numpy array")
    return array


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every array of an npz file (or a single ``.npy``), name -> array, read without running code.

    ValueError names the file for anything that is not such a file, and names the array and the global for a pickle
    that asks for anything beyond plain data."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; expected an npz file")
    try:
        if path.suffix == ".npy":
            return {path.stem: _read_member(io.BytesIO(path.read_bytes()), str(path))}
        arrays: dict[str, np.ndarray] = {}
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                key = member[:-4] if member.endswith(".npy") else member
                arrays[key] = _read_member(io.BytesIO(archive.read(member)), f"{path}['{key}']")
        return arrays
    except ValueError as error:
        if str(path) in str(error):
            raise
        raise ValueError(f"{path} is not a readable npz file: {error}") from None
    except (
        OSError,
        EOFError,
        zipfile.BadZipFile,
        pickle.UnpicklingError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        MemoryError,
    ) as error:
        raise ValueError(f"{path} is not a readable npz file: {type(error).__name__}: {error}") from None


__all__ = ["ALLOWED_GLOBALS", "RestrictedUnpickler", "load_npz"]
