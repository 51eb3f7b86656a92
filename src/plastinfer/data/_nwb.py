"""Choice data from NWB files (pynwb ≥ 4): the trials table of one session per file."""

from __future__ import annotations

from pathlib import Path

from ..errors import DatasetError
from ._choice import ChoiceDataset
from ._table import ChoiceColumns, _Part, dataset_from_parts, table_files


def _pynwb():
    try:
        import pynwb
    except ImportError:
        raise DatasetError("reading NWB files needs pynwb ≥ 4: pip install 'plastinfer[nwb]'") from None
    return pynwb


def _read_session(path: Path, table: str) -> _Part:
    pynwb = _pynwb()
    try:
        with pynwb.NWBHDF5IO(str(path), mode="r") as io:
            nwb = io.read()
            if table == "trials":
                tbl = nwb.trials
            else:
                tbl = nwb.intervals.get(table) if nwb.intervals is not None else None
            if tbl is None:
                found = sorted(nwb.intervals) if nwb.intervals is not None else []
                raise DatasetError(f"{path}: no {table!r} table (interval tables: {found})")
            frame = tbl.to_dataframe().reset_index(drop=True)
            subject = getattr(nwb.subject, "subject_id", None) if nwb.subject is not None else None
            session = nwb.session_id or nwb.identifier
    except DatasetError:
        raise
    except Exception as err:  # h5py / hdmf raise many kinds for damaged or foreign files
        raise DatasetError(f"{path}: not a readable NWB file ({type(err).__name__}: "
                           f"{' '.join(str(err).split())[:120]})") from None
    return _Part(frame, str(path), str(subject) if subject else path.stem, str(session) if session else path.stem)


def load_choice_nwb(paths, *, columns: dict | str | ChoiceColumns | None = None, readout: str = "bandit",
                    n_arms: int | None = None, table: str = "trials") -> ChoiceDataset:
    """Choice data from NWB files, one session each: a file, several, or a folder of ``.nwb``.

    Each file's ``table`` (default the trials table; another name reads that interval table)
    becomes one session of the subject in ``nwbfile.subject.subject_id`` (else the file's
    stem), labelled by ``session_id`` (else the identifier) — sessions of a subject are ordered
    by these labels, so ISO-dated session ids sort in time. ``columns``: a
    :class:`~plastinfer.data.ChoiceColumns`, a dict of its fields, or a preset
    (:data:`~plastinfer.data.PRESETS`: ``"tidy"``, ``"aind-foraging"``, ``"ibl"``). Every
    other column of the table is kept as a covariate (``start_time``, …), except per-trial
    arrays, which ``meta["columns_not_kept"]`` lists. The result equals
    :func:`~plastinfer.data.load_choice_table` of the same trials.
    """
    cols = ChoiceColumns.from_mapping(columns)
    files = table_files(paths, suffixes=(".nwb",))
    parts = [_read_session(f, table) for f in files]
    return dataset_from_parts(parts, cols, readout=readout, n_arms=n_arms, fmt="nwb")
