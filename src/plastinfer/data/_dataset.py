"""The ``Dataset`` type: trajectories × time × units, saved as ``.npz`` with a JSON header."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DatasetError
from .._io import atomic_write, read_npz

FORMAT = "plastinfer.dataset"
FORMAT_VERSION = 1
_ARRAYS = ("stimuli", "activity", "units", "init_weights", "rewards")


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Recordings of a plastic circuit during learning.

    Axes are named: ``trajectory × time × unit`` (``AXES``). Fields (NumPy arrays):

    - ``stimuli``: ``(trajectories, time, n_in)``, or ``(trajectories, time, K, n_in)``
      when each step presents ``K`` samples — the input ``x(t)``;
    - ``activity``: ``(trajectories, time, units)`` (or ``(…, K, units)``) — the recorded
      activity ``o(t)`` of the units listed in ``units``;
    - ``units``: ``(units,)`` int — which of the circuit's ``n_out`` outputs were recorded;
    - ``n_out``: the number of outputs of the circuit (recorded or not);
    - ``init_weights`` (optional): ``(trajectories, post, pre)`` ground-truth initial
      weights, for validation (R² of weight trajectories);
    - ``rewards`` (optional): ``(trajectories, time)`` global reward ``r(t)``;
    - ``meta``: a JSON-able dict — how the data were made (circuit, ground-truth rule,
      noise, seed) or where they came from.
    """

    stimuli: np.ndarray
    activity: np.ndarray
    units: np.ndarray
    n_out: int
    init_weights: np.ndarray | None = None
    rewards: np.ndarray | None = None
    meta: dict = dataclasses.field(default_factory=dict)

    AXES = ("trajectory", "time", "unit")

    def __post_init__(self):
        for name in _ARRAYS:
            value = getattr(self, name)
            if value is not None:
                value = np.asarray(value)
                if name == "units":
                    if value.dtype.kind not in "iu":
                        raise DatasetError(f"field 'units' must hold integers, got dtype {value.dtype}")
                    value = value.astype(np.int64)
                else:
                    if value.dtype.kind not in "fiub":
                        raise DatasetError(f"field {name!r} must be numeric, got dtype {value.dtype}")
                    value = value.astype(np.float32)
                object.__setattr__(self, name, value)
        if isinstance(self.n_out, bool) or not isinstance(self.n_out, (int, np.integer)):
            raise DatasetError(f"field 'n_out' must be an integer, got {self.n_out!r}")
        object.__setattr__(self, "n_out", int(self.n_out))
        if not isinstance(self.meta, dict):
            raise DatasetError(f"field 'meta' must be a JSON object, got {type(self.meta).__name__}")
        self.validate()
        for name in _ARRAYS:  # validated once: later in-place edits (a NaN set afterwards) are refused
            value = getattr(self, name)
            if value is not None:
                value.flags.writeable = False

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Raise :class:`DatasetError` naming the first field that is wrong."""
        s, a = self.stimuli, self.activity
        if s.ndim not in (3, 4):
            raise DatasetError(f"field 'stimuli' must have 3 axes (trajectory, time, n_in) or 4, got shape {s.shape}")
        if a.ndim != s.ndim:
            raise DatasetError(f"field 'activity' has {a.ndim} axes but 'stimuli' has {s.ndim} (shape {a.shape} vs {s.shape})")
        if a.shape[:-1] != s.shape[:-1]:
            raise DatasetError(
                f"field 'activity' has shape {a.shape}: its (trajectory, time{', sample' if s.ndim == 4 else ''}) axes "
                f"{a.shape[:-1]} disagree with 'stimuli' {s.shape[:-1]}"
            )
        if s.shape[0] < 1 or s.shape[1] < 1 or s.shape[-1] < 1 or (s.ndim == 4 and s.shape[2] < 1):
            raise DatasetError(f"field 'stimuli' is empty (shape {s.shape})")
        if a.shape[-1] < 1:
            raise DatasetError(f"field 'activity' records no units (shape {a.shape})")
        if self.units.ndim != 1 or self.units.shape[0] != a.shape[-1]:
            raise DatasetError(f"field 'units' has shape {self.units.shape}, expected ({a.shape[-1]},) to match 'activity'")
        if self.n_out < 1:
            raise DatasetError(f"field 'n_out' must be positive, got {self.n_out}")
        if self.units.size and (self.units.min() < 0 or self.units.max() >= self.n_out):
            raise DatasetError(f"field 'units' holds indices outside [0, {self.n_out}): min {self.units.min()}, max {self.units.max()}")
        if len(np.unique(self.units)) != self.units.size:
            raise DatasetError("field 'units' lists a unit more than once")
        if self.init_weights is not None:
            expected = (s.shape[0], self.n_out, s.shape[-1])
            if self.init_weights.shape != expected:
                raise DatasetError(f"field 'init_weights' has shape {self.init_weights.shape}, expected (trajectory, post, pre) = {expected}")
        if self.rewards is not None and self.rewards.shape != s.shape[:2]:
            raise DatasetError(f"field 'rewards' has shape {self.rewards.shape}, expected (trajectory, time) = {s.shape[:2]}")
        for name in ("stimuli", "activity", "init_weights", "rewards"):
            value = getattr(self, name)
            if value is not None and not np.all(np.isfinite(value)):
                bad = int(np.size(value) - np.count_nonzero(np.isfinite(value)))
                raise DatasetError(f"field {name!r} holds {bad} non-finite value(s) (NaN or inf)")
        try:
            json.dumps(self.meta)
        except TypeError as err:
            raise DatasetError(f"field 'meta' is not JSON-serialisable: {err}") from None

    # ------------------------------------------------------------------ shape
    @property
    def n_trajectories(self) -> int:
        return self.stimuli.shape[0]

    @property
    def n_steps(self) -> int:
        return self.stimuli.shape[1]

    @property
    def n_in(self) -> int:
        return self.stimuli.shape[-1]

    @property
    def n_units(self) -> int:
        return self.activity.shape[-1]

    def select(self, index) -> "Dataset":
        """The trajectories picked by ``index`` (a slice, or an array of ints or bools)."""
        pick = lambda v: None if v is None else v[index]  # noqa: E731
        return dataclasses.replace(
            self,
            stimuli=self.stimuli[index],
            activity=self.activity[index],
            init_weights=pick(self.init_weights),
            rewards=pick(self.rewards),
        )

    def split(self, n_test: int) -> tuple["Dataset", "Dataset"]:
        """``(train, test)``: the last ``n_test`` trajectories are held out."""
        if not 0 < n_test < self.n_trajectories:
            raise DatasetError(f"cannot hold out {n_test} of {self.n_trajectories} trajectories")
        return self.select(slice(0, -n_test)), self.select(slice(-n_test, None))

    # ------------------------------------------------------------------ io
    def save(self, path: str | os.PathLike, *, force: bool = False) -> Path:
        """Write ``path`` (``.npz``: the arrays plus a JSON header; nothing pickled).

        An existing file is never overwritten unless ``force``; the file is written to a
        temporary name first and moved into place, so a failed write loses nothing.
        """
        path = Path(path)
        if path.exists() and not force:
            raise FileExistsError(f"{path} exists; pass force=True (CLI: --force) to overwrite it")
        header = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "axes": list(self.AXES),
            "n_out": self.n_out,
            "meta": self.meta,
        }
        arrays = {k: getattr(self, k) for k in _ARRAYS if getattr(self, k) is not None}
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda fh: np.savez_compressed(fh, **arrays))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Dataset":
        """Read and validate a data set written by :meth:`save` (never unpickles)."""
        path = Path(path)
        arrays = read_npz(path, "data set")
        if "header" not in arrays:
            raise DatasetError(f"{path}: missing field 'header' (not a plastinfer data set)")
        raw = arrays.pop("header")
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise DatasetError(f"{path}: field 'header' must be UTF-8 JSON bytes (uint8), got {raw.dtype} {raw.shape}")
        try:
            header: dict[str, Any] = json.loads(raw.tobytes().decode())
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
            raise DatasetError(f"{path}: field 'header' is not valid JSON ({type(err).__name__})") from None
        if not isinstance(header, dict):
            raise DatasetError(f"{path}: field 'header' must be a JSON object, got {type(header).__name__}")
        if header.get("format") != FORMAT:
            raise DatasetError(f"{path}: header format is {header.get('format')!r}, expected {FORMAT!r}")
        version = header.get("version", 0)
        if isinstance(version, bool) or not isinstance(version, int):
            raise DatasetError(f"{path}: header version must be an integer, got {version!r}")
        if version > FORMAT_VERSION:
            raise DatasetError(f"{path}: data set version {header['version']} is newer than this plastinfer reads ({FORMAT_VERSION})")
        for required in ("stimuli", "activity", "units"):
            if required not in arrays:
                raise DatasetError(f"{path}: missing field {required!r}")
        unknown = set(arrays) - set(_ARRAYS)
        if unknown:
            raise DatasetError(f"{path}: unknown field(s) {sorted(unknown)}")
        if "n_out" not in header:
            raise DatasetError(f"{path}: header lacks 'n_out'")
        meta = header.get("meta", {})
        if meta is None:
            meta = {}
        try:
            return cls(n_out=header["n_out"], meta=meta, **arrays)
        except DatasetError as err:
            raise DatasetError(f"{path}: {err}") from None
