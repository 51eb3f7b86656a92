"""Choice data as labs record it: tidy tables (CSV, Parquet) and a column map for other names.

One row per trial. The canonical columns are ``subject``, ``session``, ``trial``, ``choice``
and ``reward`` (plus optional ``odor`` and per-arm ``reward_prob_<arm>``); every other column
is kept as a covariate. A :class:`ChoiceColumns` maps a lab's own names onto these (and says
which raw choice values mean which arm, and which mean "no choice"); presets cover common
public formats (:data:`PRESETS`). Ignored trials stay in place, masked
(:attr:`~plastinfer.data.ChoiceDataset.ignored`); errors name the file, the column and the row.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..errors import DatasetError
from ._choice import IGNORED, READOUTS, ChoiceDataset, _stack

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
#: raw choice values that mean "no choice" when no ``choice_values`` map is given
DEFAULT_IGNORED = (-1, "ignored", "ignore", "miss", "missed", "none", "no_response", "noresponse", "nan", "")


@dataclasses.dataclass(frozen=True)
class ChoiceColumns:
    """Where a table keeps each field, and how to read its values.

    - ``subject`` / ``session`` / ``trial``: column names, or ``None`` when the table has no
      such column (then: one subject per file, named by the file's stem or the ``subject``
      argument of the loader; one session per file; trials in row order). A missing session
      or trial column is treated as ``None``;
    - ``choice``: the column holding the choice; ``choice_values`` maps raw values to arms
      (``0 … n_arms − 1``) or to ``None`` (ignored trial), e.g. ``{"left": 0, "right": 1,
      "miss": None}``. Without a map, integer values ≥ 0 are arms and :data:`DEFAULT_IGNORED`
      values (and empty cells) mark ignored trials;
    - ``reward``: the column of the reward received; or ``reward_per_arm``: one column per arm,
      the reward is the chosen arm's (e.g. ``("rewarded_historyL", "rewarded_historyR")``);
      ``reward_values`` maps raw values (``{-1: 0, 1: 1}``);
    - ``reward_probs``: one column per arm with its reward probability (optional);
    - ``odor``: the presented odor (accept readout only);
    - ``drop``: columns not to keep as covariates (e.g. free text).
    """

    subject: str | None = "subject"
    session: str | None = "session"
    trial: str | None = "trial"
    choice: str = "choice"
    reward: str | None = "reward"
    reward_per_arm: tuple[str, ...] | None = None
    reward_probs: tuple[str, ...] | None = None
    odor: str | None = "odor"
    choice_values: dict | None = None
    reward_values: dict | None = None
    drop: tuple[str, ...] = ()

    def __post_init__(self):
        for name in ("reward_per_arm", "reward_probs", "drop"):
            v = getattr(self, name)
            if v is not None:
                if isinstance(v, str):
                    raise DatasetError(f"columns: {name!r} must be a list of column names, got the string {v!r}")
                object.__setattr__(self, name, tuple(str(c) for c in v))
        if self.reward is None and self.reward_per_arm is None:
            raise DatasetError("columns: name a 'reward' column or 'reward_per_arm' columns")
        for name in ("choice_values", "reward_values"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, dict):
                raise DatasetError(f"columns: {name!r} must be a mapping of raw value → value, got {type(v).__name__}")

    @classmethod
    def from_mapping(cls, mapping: dict | str | "ChoiceColumns" | None) -> "ChoiceColumns":
        """From a preset name, a dict of field → column name (a config's ``[data.columns]``
        table; JSON keys of ``choice_values`` that look like integers are read as integers),
        or an instance."""
        if mapping is None:
            return cls()
        if isinstance(mapping, ChoiceColumns):
            return mapping
        if isinstance(mapping, str):
            if mapping not in PRESETS:
                raise DatasetError(f"unknown column preset {mapping!r}; presets: {sorted(PRESETS)}")
            return PRESETS[mapping]
        if not isinstance(mapping, dict):
            raise DatasetError(f"columns must be a preset name or a mapping, got {type(mapping).__name__}")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(mapping) - fields - {"preset"})
        if unknown:
            raise DatasetError(f"columns: unknown field(s) {unknown}; known: {sorted(fields)}")
        base = dataclasses.asdict(cls.from_mapping(mapping["preset"])) if "preset" in mapping else {}
        values = {**base, **{k: v for k, v in mapping.items() if k != "preset"}}
        for name in ("choice_values", "reward_values"):
            if isinstance(values.get(name), dict):
                values[name] = {_key(k): v for k, v in values[name].items()}
        return cls(**values)


def _key(k):
    """A mapping key from a config file: ``"2"`` → ``2``, ``"1.0"`` → ``1``, text stays text."""
    if isinstance(k, str):
        try:
            f = float(k)
        except ValueError:
            return k
        return int(f) if f.is_integer() else f
    return k


#: column maps of public formats
PRESETS: dict[str, ChoiceColumns] = {
    # plastinfer's own tidy table (ChoiceDataset.to_table / save_table)
    "tidy": ChoiceColumns(),
    # Allen Institute for Neural Dynamics dynamic-foraging NWB trials tables: animal_response 0 left,
    # 1 right, 2 ignored; rewarded_historyL/R; reward_probabilityL/R
    "aind-foraging": ChoiceColumns(subject=None, session=None, trial=None, choice="animal_response",
                                   reward=None, reward_per_arm=("rewarded_historyL", "rewarded_historyR"),
                                   reward_probs=("reward_probabilityL", "reward_probabilityR"),
                                   choice_values={0: 0, 1: 1, 2: None}, odor=None),
    # International Brain Laboratory trials (ONE / ibl-to-nwb names): choice −1 / +1, 0 = no-go;
    # feedbackType +1 rewarded, −1 not
    "ibl": ChoiceColumns(subject=None, session=None, trial=None, choice="choice", reward="feedbackType",
                         choice_values={-1: 0, 1: 1, 0: None}, reward_values={1: 1.0, -1: 0.0}, odor=None),
}


def table_files(paths: str | Path | Iterable[str | Path], suffixes: tuple[str, ...] = TABLE_SUFFIXES) -> list[Path]:
    """Files from a path, a list of paths, or folders (their files with ``suffixes``, sorted)."""
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if not items:
        raise DatasetError("no data files given")
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in suffixes)
            if not found:
                raise DatasetError(f"{p}: folder holds no {'/'.join(suffixes)} files")
            out += found
        elif not p.exists():
            raise DatasetError(f"{p}: no such file")
        else:
            out.append(p)
    return out


def _read_frame(path: Path):
    import pandas as pd

    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path, skipinitialspace=True)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        kind = "CSV" if suffix == ".csv" else "Parquet"
        raise DatasetError(f"{path}: not a readable {kind} table ({type(err).__name__}: "
                           f"{' '.join(str(err).split())[:120]})") from None
    except Exception as err:  # pyarrow raises its own error types for corrupt files
        raise DatasetError(f"{path}: not a readable table ({type(err).__name__}: {' '.join(str(err).split())[:120]})") from None
    raise DatasetError(f"{path}: unknown table format {suffix!r}; use {', '.join(TABLE_SUFFIXES)} (or .nwb with load_choice_nwb)")


@dataclasses.dataclass
class _Part:
    """One source table (a file, or an NWB trials table) and how to name its rows in errors."""

    frame: Any
    source: str
    subject: str | None = None
    session: str | None = None
    csv: bool = False

    def where(self, i: int) -> str:
        return f"{self.source}, line {i + 2}" if self.csv else f"{self.source}, row {i + 1}"


def load_choice_table(paths, *, columns: dict | str | ChoiceColumns | None = None, readout: str = "bandit",
                      n_arms: int | None = None, subject: str | None = None) -> ChoiceDataset:
    """Choice data from tidy tables: one CSV / Parquet file, several, or a folder of them.

    ``columns``: a :class:`ChoiceColumns`, a dict of its fields, or a preset name
    (:data:`PRESETS`; default ``"tidy"``). ``readout``: ``"bandit"`` (k arms, no sensory
    input; default), ``"two_alternative"`` or ``"accept"`` (odor tasks). ``n_arms``: options
    per trial (default: from the reward-probability or per-arm reward columns, else the
    largest arm seen + 1). ``subject``: the subject's name when the table has no subject
    column (default: each file's stem).

    Rows are grouped by subject; a subject's sessions are ordered by their labels (numbers
    numerically, text — e.g. ISO dates — alphabetically) and trials by the trial column
    within a session. Returns a :class:`~plastinfer.data.ChoiceDataset` whose ``meta`` holds
    the sources, the session labels per subject and the codes of text covariates.
    """
    cols = ChoiceColumns.from_mapping(columns)
    files = table_files(paths)
    parts = []
    for f in files:
        parts.append(_Part(_read_frame(f), str(f), subject if subject is not None else f.stem,
                           None, f.suffix.lower() == ".csv"))
    return dataset_from_parts(parts, cols, readout=readout, n_arms=n_arms, fmt="table")


def _is_missing(v) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    try:
        import pandas as pd

        return bool(pd.isna(v)) if np.ndim(v) == 0 else False
    except (TypeError, ValueError):
        return False


def _norm(v):
    """A raw cell as a plain Python value for mapping lookups (numpy scalars → int/float/str)."""
    if isinstance(v, (np.bool_, bool)):
        return int(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return int(f) if f.is_integer() else f
    if isinstance(v, str):
        t = v.strip()
        try:
            f = float(t)
        except ValueError:
            return t.lower()
        return int(f) if f.is_integer() else f
    return v


def _choices(part: _Part, cols: ChoiceColumns) -> tuple[np.ndarray, np.ndarray]:
    """``(arm, ignored)`` per row."""
    raw = part.frame[cols.choice].to_numpy(object)
    arms = np.zeros(len(raw), int)
    ign = np.zeros(len(raw), bool)
    mapping = None if cols.choice_values is None else {_norm(k): v for k, v in cols.choice_values.items()}
    ignored_default = {_norm(v) for v in DEFAULT_IGNORED}
    for i, v in enumerate(raw):
        if mapping is not None:
            key = None if _is_missing(v) else _norm(v)
            if key is None:
                ign[i] = True
                continue
            if key not in mapping:
                raise DatasetError(f"{part.where(i)}: column {cols.choice!r} holds {v!r}, which the choice map "
                                   f"{dict(cols.choice_values)} does not name")
            arm = mapping[key]
            if arm is None:
                ign[i] = True
            else:
                arms[i] = int(arm)
            continue
        if _is_missing(v):
            ign[i] = True
            continue
        key = _norm(v)
        if key in ignored_default:
            ign[i] = True
        elif isinstance(key, int) and key >= 0:
            arms[i] = key
        else:
            raise DatasetError(f"{part.where(i)}: column {cols.choice!r} holds {v!r}; choices are arms 0, 1, … "
                               "(or -1 / empty for an ignored trial) — pass choice_values to map other labels")
    return arms, ign


def _numeric(part: _Part, column: str, values: dict | None, what: str) -> np.ndarray:
    raw = part.frame[column].to_numpy(object)
    out = np.full(len(raw), np.nan)
    mapping = None if values is None else {_norm(k): v for k, v in values.items()}
    for i, v in enumerate(raw):
        if _is_missing(v):
            continue
        key = _norm(v)
        if mapping is not None:
            if key not in mapping:
                raise DatasetError(f"{part.where(i)}: column {column!r} holds {v!r}, which the {what} map "
                                   f"{dict(values)} does not name")
            key = mapping[key]
        if isinstance(key, str) or key is None:
            raise DatasetError(f"{part.where(i)}: column {column!r} holds {v!r}, not a number")
        out[i] = float(key)
    return out


def _labels(values: list) -> list:
    """Session / subject labels in order: numerically when all are numbers, else as text."""
    uniq = list(dict.fromkeys(values))
    if all(isinstance(v, (int, float)) for v in uniq):
        return sorted(uniq)
    return sorted(uniq, key=str)


def _covariate(series) -> tuple[np.ndarray, list[str] | None]:
    """A column as floats (numbers, booleans, times in seconds) or as category codes of text."""
    import pandas as pd

    if series.dtype == object and any(isinstance(v, (list, tuple, np.ndarray)) for v in series):
        return None, None  # ragged per-trial arrays (e.g. lick times) have no place in a (subjects, trials) table
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return series.astype(float).to_numpy(), None
    if pd.api.types.is_datetime64_any_dtype(series):
        t = series.astype("int64").astype(float) / 1e9
        return np.where(series.isna(), np.nan, t), None
    num = pd.to_numeric(series, errors="coerce")
    if num.notna().sum() == series.notna().sum():
        return num.astype(float).to_numpy(), None
    cats = sorted({str(v) for v in series.dropna()})
    codes = {c: i for i, c in enumerate(cats)}
    return np.array([np.nan if _is_missing(v) else codes[str(v)] for v in series], float), cats


def dataset_from_parts(parts: list[_Part], cols: ChoiceColumns, *, readout: str = "bandit", n_arms: int | None = None,
                       fmt: str = "table") -> ChoiceDataset:
    """Source tables → one :class:`ChoiceDataset` (shared by the table and NWB loaders)."""
    if readout not in READOUTS:
        raise DatasetError(f"readout must be one of {list(READOUTS)}, got {readout!r}")
    if n_arms is not None and (isinstance(n_arms, bool) or not isinstance(n_arms, int) or n_arms < 2):
        raise DatasetError(f"n_arms must be an integer ≥ 2, got {n_arms!r}")
    if readout != "bandit":
        if n_arms not in (None, 2):
            raise DatasetError(f"readout {readout!r} has 2 options, got n_arms = {n_arms}")
        n_arms = 2
    per_arm = cols.reward_per_arm or cols.reward_probs
    if n_arms is None and per_arm:
        n_arms = len(per_arm)
    for name in ("reward_per_arm", "reward_probs"):
        v = getattr(cols, name)
        if v is not None and n_arms is not None and len(v) != n_arms:
            raise DatasetError(f"columns: {name} names {len(v)} columns for {n_arms} arms")

    rows: dict[str, list[dict]] = {}  # subject → list of per-row records
    covariate_names: list[str] = []
    categories: dict[str, list[str]] = {}
    not_kept: dict[str, str] = {}
    seen_sessions: dict[tuple[str, Any], str] = {}
    for part in parts:
        df = part.frame
        if len(df) == 0:
            raise DatasetError(f"{part.source}: no rows")
        df.columns = [str(c).strip() for c in df.columns]
        found = list(df.columns)
        need = [cols.choice] + ([cols.reward] if cols.reward_per_arm is None else list(cols.reward_per_arm))
        need += list(cols.reward_probs or ())
        if readout == "accept":
            need.append(cols.odor or "odor")
        if cols.subject is not None and part.subject is None:
            need.append(cols.subject)
        missing = [c for c in need if c not in df.columns]
        if missing:
            raise DatasetError(f"{part.source}: missing column(s) {missing} (found {found}); map your names with "
                               "columns={...} or a preset")
        use_subject = cols.subject is not None and cols.subject in df.columns
        use_session = cols.session is not None and cols.session in df.columns
        use_trial = cols.trial is not None and cols.trial in df.columns
        arms, ign = _choices(part, cols)
        if cols.reward_per_arm is None:
            reward = _numeric(part, cols.reward, cols.reward_values, "reward")
        else:
            per = np.stack([_numeric(part, c, cols.reward_values, "reward") for c in cols.reward_per_arm], 1)
            bad = np.flatnonzero(~ign & (arms >= per.shape[1]))
            if bad.size:
                raise DatasetError(f"{part.where(int(bad[0]))}: choice {arms[bad[0]]} but only {per.shape[1]} "
                                   f"reward columns {list(cols.reward_per_arm)}")
            reward = np.where(ign, np.nan, per[np.arange(len(arms)), np.minimum(arms, per.shape[1] - 1)])
        bad = np.flatnonzero(~ign & ~np.isfinite(reward))
        if bad.size:
            col = cols.reward or "/".join(cols.reward_per_arm)
            raise DatasetError(f"{part.where(int(bad[0]))}: column {col!r} is missing or not finite on a trial with a "
                               f"choice ({int(bad.size)} such row(s))")
        reward = np.where(ign, 0.0, reward)
        probs = None
        if cols.reward_probs:
            probs = np.stack([_numeric(part, c, None, "probability") for c in cols.reward_probs], 1)
        odor = None
        if readout == "accept":
            odor = _numeric(part, cols.odor or "odor", None, "odor")
            bad = np.flatnonzero(~np.isfinite(odor) & ~ign)
            if bad.size:
                raise DatasetError(f"{part.where(int(bad[0]))}: column 'odor' is required for the accept readout")
        trial = None
        if use_trial:
            trial = _numeric(part, cols.trial, None, "trial")
            bad = np.flatnonzero(~np.isfinite(trial))
            if bad.size:
                raise DatasetError(f"{part.where(int(bad[0]))}: column {cols.trial!r} is empty")
        used = {cols.choice, cols.reward, cols.odor if readout == "accept" else None,
                cols.subject if use_subject else None, cols.session if use_session else None,
                cols.trial if use_trial else None, *(cols.reward_per_arm or ()), *(cols.reward_probs or ()),
                *cols.drop}
        extra = [c for c in df.columns if c not in used]
        covs = {}
        for c in extra:
            values, cats = _covariate(df[c])
            if values is None:
                not_kept.setdefault(c, "one array per trial, not a number")
                continue
            if cats is not None:
                if c in categories and categories[c] != cats:  # recode across parts on the union of labels
                    union = sorted(set(categories[c]) | set(cats))
                    values = np.array([np.nan if np.isnan(v) else union.index(cats[int(v)]) for v in values])
                    categories[c] = union
                else:
                    categories[c] = cats
            covs[c] = values
            if c not in covariate_names:
                covariate_names.append(c)
        subj = df[cols.subject].to_numpy(object) if use_subject else None
        sess = df[cols.session].to_numpy(object) if use_session else None
        keys: set = set()
        for i in range(len(df)):
            if use_subject and _is_missing(subj[i]):
                raise DatasetError(f"{part.where(i)}: column {cols.subject!r} is empty")
            if use_session and _is_missing(sess[i]):
                raise DatasetError(f"{part.where(i)}: column {cols.session!r} is empty")
            s_name = str(_norm(subj[i]) if not isinstance(subj[i], str) else subj[i].strip()) if use_subject else str(part.subject)
            s_label = _norm(sess[i]) if use_session else (part.session if part.session is not None else part.source)
            rows.setdefault(s_name, []).append({
                "where": part.where(i), "source": part.source, "session": s_label,
                "trial": float(trial[i]) if trial is not None else float(i), "arm": int(arms[i]), "ignored": bool(ign[i]),
                "reward": float(reward[i]), "odor": -1 if odor is None or not np.isfinite(odor[i]) else int(odor[i]),
                "probs": None if probs is None else probs[i], "covs": {c: covs[c][i] for c in covs}})
            keys.add((s_name, s_label))
        for key in keys:
            if seen_sessions.setdefault(key, part.source) != part.source:
                raise DatasetError(f"{part.source}: subject {key[0]!r} session {key[1]!r} is also in "
                                   f"{seen_sessions[key]}")
    if not rows:
        raise DatasetError("no rows")
    if n_arms is None:
        n_arms = max(2, max(r["arm"] + 1 for rs in rows.values() for r in rs if not r["ignored"]) if any(
            not r["ignored"] for rs in rows.values() for r in rs) else 2)

    subjects, seqs, labels_out = [], {k: [] for k in ("odor", "arm", "reward", "session", "ignored", "probs")}, {}
    cov_seqs: dict[str, list] = {c: [] for c in covariate_names}
    for s_name in _labels(list(rows)):
        rs = rows[s_name]
        labels = _labels([r["session"] for r in rs])
        index = {lab: j for j, lab in enumerate(labels)}
        rs = sorted(rs, key=lambda r: (index[r["session"]], r["trial"]))
        for a, b in zip(rs, rs[1:]):
            if a["session"] == b["session"] and a["trial"] == b["trial"]:
                raise DatasetError(f"{b['where']}: subject {s_name!r} session {b['session']!r} trial "
                                   f"{_norm(b['trial'])} repeats {a['where']}")
        bad = [r for r in rs if not r["ignored"] and r["arm"] >= n_arms]
        if bad:
            raise DatasetError(f"{bad[0]['where']}: choice {bad[0]['arm']} but the task has {n_arms} arms "
                               f"(0 … {n_arms - 1})" + ("; a two-alternative task needs choices 0 or 1"
                                                        if n_arms == 2 else ""))
        subjects.append(s_name)
        labels_out[s_name] = [str(lab) for lab in labels]
        seqs["odor"].append([r["odor"] for r in rs])
        seqs["arm"].append([IGNORED if r["ignored"] else r["arm"] for r in rs])
        seqs["reward"].append([r["reward"] for r in rs])
        seqs["session"].append([index[r["session"]] for r in rs])
        seqs["ignored"].append([r["ignored"] for r in rs])
        if cols.reward_probs:
            seqs["probs"].append(np.stack([r["probs"] for r in rs]))
        for c in covariate_names:
            cov_seqs[c].append([r["covs"].get(c, np.nan) for r in rs])
    if readout != "bandit":
        bad = [(s, t) for s, arms in zip(subjects, seqs["arm"]) for t, a in enumerate(arms) if a not in (IGNORED, 0, 1)]
        if bad:
            raise DatasetError(f"subject {bad[0][0]!r}: a two-option task needs choices 0 or 1")
    meta = {"source": [p.source for p in parts], "format": fmt, "session_labels": labels_out,
            "columns": {k: v for k, v in dataclasses.asdict(cols).items() if v not in (None, ())
                        and k not in ("choice_values", "reward_values")}}
    if categories:
        meta["categories"] = categories
    if not_kept:
        meta["columns_not_kept"] = not_kept
    try:
        return _stack(subjects, seqs["odor"], seqs["arm"], seqs["reward"], readout, meta, sessions=seqs["session"],
                      ignored=seqs["ignored"], n_arms=n_arms, reward_probs=seqs["probs"] if cols.reward_probs else None,
                      covariates=cov_seqs)
    except DatasetError as err:
        src = parts[0].source if len(parts) == 1 else f"{len(parts)} files"
        raise DatasetError(f"{src}: {err}") from None


def to_table(data: ChoiceDataset):
    """The tidy table of ``data`` (pandas): one row per existing trial, columns ``subject,
    session, trial, choice`` (−1 on ignored trials), ``reward``, ``odor`` (odor tasks),
    ``reward_prob_<arm>`` and every covariate (text covariates decoded)."""
    import pandas as pd

    labels = data.meta.get("session_labels", {})
    cats = data.meta.get("categories", {})
    rows = {k: [] for k in ("subject", "session", "trial", "choice", "reward")}
    extra: dict[str, list] = {}
    if data.readout == "accept":
        extra["odor"] = []
    if data.reward_probs is not None:
        extra.update({f"reward_prob_{a}": [] for a in range(data.n_arms)})
    extra.update({c: [] for c in data.covariates})
    for s, name in enumerate(data.subjects):
        lab = labels.get(name)
        for t in np.flatnonzero(data.mask[s]):
            k = int(data.sessions[s, t])
            rows["subject"].append(name)
            rows["session"].append(lab[k] if lab is not None and k < len(lab) else k)
            rows["trial"].append(int(t))
            rows["choice"].append(int(data.choices[s, t]))
            rows["reward"].append(float(data.rewards[s, t]))
            if "odor" in extra:
                extra["odor"].append(int(data.odors[s, t]))
            if data.reward_probs is not None:
                for a in range(data.n_arms):
                    extra[f"reward_prob_{a}"].append(float(data.reward_probs[s, t, a]))
            for c, v in data.covariates.items():
                x = float(v[s, t])
                extra[c].append(cats[c][int(x)] if c in cats and np.isfinite(x) else (None if c in cats else x))
    return pd.DataFrame({**rows, **extra})


def save_table(data: ChoiceDataset, path: str | Path, *, force: bool = False) -> Path:
    """Write :func:`to_table` as CSV or Parquet (by the suffix), atomically; an existing file is
    kept unless ``force``."""
    from .._io import atomic_write

    path = Path(path)
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise DatasetError(f"{path}: a choice table is saved as {', '.join(TABLE_SUFFIXES)}")
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; pass force=True to overwrite it")
    df = to_table(data)
    if path.suffix.lower() == ".csv":
        atomic_write(path, lambda fh: fh.write(df.to_csv(index=False).encode()))
    else:
        import io

        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        atomic_write(path, lambda fh: fh.write(buf.getvalue()))
    return path


def load_choice_data(paths, *, columns: dict | str | ChoiceColumns | None = None, readout: str | None = None,
                     n_arms: int | None = None) -> ChoiceDataset:
    """Choice data from whatever a lab has: tidy tables (``.csv``, ``.parquet``), NWB files
    (``.nwb``), folders of either, or a folder of fly folders (``choice_order.mat``, Rajagopalan
    et al. 2023). ``readout`` defaults to ``"bandit"`` (``"two_alternative"`` for fly folders);
    ``columns`` / ``n_arms`` as in :func:`load_choice_table`."""
    from ._choice import load_fly_folders
    from ._nwb import load_choice_nwb

    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if not items:
        raise DatasetError("no data given")
    flies = [Path(p) for p in items if Path(p).is_dir() and any(Path(p).rglob("choice_order.mat"))]
    if flies:
        if len(items) > 1:
            raise DatasetError(f"{flies[0]}: a folder of fly folders is read alone, not with other data")
        data = load_fly_folders(flies[0])
        if readout not in (None, "two_alternative"):
            raise DatasetError(f"{flies[0]}: fly folders hold two-alternative choices, not readout {readout!r}")
        return data
    files = table_files(items, suffixes=TABLE_SUFFIXES + (".nwb",))
    kinds = {f.suffix.lower() == ".nwb" for f in files}
    if len(kinds) > 1:
        raise DatasetError("mixing NWB files and tables in one data set is not supported; convert one to the other")
    readout = readout or "bandit"
    if kinds == {True}:
        return load_choice_nwb(files, columns=columns, readout=readout, n_arms=n_arms)
    return load_choice_table(files, columns=columns, readout=readout, n_arms=n_arms)
