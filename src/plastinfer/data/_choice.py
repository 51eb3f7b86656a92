"""Behavioural data: trial-by-trial choices and rewards of subjects in odor-choice and bandit
tasks, with sessions, ignored trials, per-arm reward probabilities and extra covariates."""

from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path

import numpy as np

from .._io import check_file
from ..errors import DatasetError

READOUTS = ("accept", "two_alternative", "bandit")
#: the choice stored for an ignored (missed) trial
IGNORED = -1


@dataclasses.dataclass(frozen=True)
class ChoiceDataset:
    """Choices of several subjects, padded to a common number of trials.

    Axes: ``subject × trial`` (a subject's sessions one after the other). Fields:

    - ``subjects``: names, one per subject;
    - ``odors``: ``(subjects, trials)`` int — the odor presented on each trial (readout
      ``"accept"``: accept or reject the presented odor), or ``-1`` for
      ``"two_alternative"`` and ``"bandit"`` trials (every option offered, one chosen);
    - ``choices``: ``(subjects, trials)`` int — 1 accept / 0 reject, the chosen odor (0 or 1)
      for ``"two_alternative"``, the chosen arm ``0 … n_arms − 1`` for ``"bandit"``;
      ``-1`` (:data:`IGNORED`) on an ignored trial;
    - ``rewards``: ``(subjects, trials)`` float — the reward received (0/1 for the odor
      readouts; any finite number for ``"bandit"``), 0 on ignored trials;
    - ``mask``: ``(subjects, trials)`` bool — which trials exist (subjects may differ in length);
    - ``sessions``: ``(subjects, trials)`` int — the session of each trial, 0, 1, … in order
      within a subject (default: one session);
    - ``ignored``: ``(subjects, trials)`` bool — trials that happened without a choice
      (missed, no response): kept in place, masked from likelihoods and updates
      (:attr:`observed`);
    - ``n_arms``: options per trial for ``"bandit"`` (2 for the odor readouts);
    - ``reward_probs``: ``(subjects, trials, n_arms)`` float or ``None`` — each arm's reward
      probability on each trial where the task recorded it (NaN where unknown);
    - ``covariates``: name → ``(subjects, trials)`` float — any further per-trial columns
      of the source (kept, not dropped; NaN where missing);
    - ``meta``: JSON-able provenance (source, format, session labels per subject, …).
    """

    subjects: tuple[str, ...]
    odors: np.ndarray
    choices: np.ndarray
    rewards: np.ndarray
    mask: np.ndarray
    readout: str = "two_alternative"
    n_odors: int = 2
    meta: dict = dataclasses.field(default_factory=dict)
    sessions: np.ndarray | None = None
    ignored: np.ndarray | None = None
    n_arms: int = 2
    reward_probs: np.ndarray | None = None
    covariates: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "subjects", tuple(str(s) for s in self.subjects))
        object.__setattr__(self, "odors", np.asarray(self.odors, np.int32))
        object.__setattr__(self, "choices", np.asarray(self.choices, np.int32))
        object.__setattr__(self, "rewards", np.asarray(self.rewards, np.float32))
        object.__setattr__(self, "mask", np.asarray(self.mask, bool))
        shape = self.choices.shape
        object.__setattr__(self, "sessions", np.zeros(shape, np.int32) if self.sessions is None
                           else np.asarray(self.sessions, np.int32))
        object.__setattr__(self, "ignored", np.zeros(shape, bool) if self.ignored is None
                           else np.asarray(self.ignored, bool))
        if self.reward_probs is not None:
            object.__setattr__(self, "reward_probs", np.asarray(self.reward_probs, np.float32))
        if not isinstance(self.covariates, dict):
            raise DatasetError(f"field 'covariates' must be a dict, got {type(self.covariates).__name__}")
        object.__setattr__(self, "covariates", {str(k): np.asarray(v, np.float32) for k, v in self.covariates.items()})
        if not isinstance(self.meta, dict):
            raise DatasetError(f"field 'meta' must be a dict, got {type(self.meta).__name__}")
        if isinstance(self.n_arms, bool) or not isinstance(self.n_arms, (int, np.integer)) or self.n_arms < 2:
            raise DatasetError(f"field 'n_arms' must be an integer ≥ 2, got {self.n_arms!r}")
        object.__setattr__(self, "n_arms", int(self.n_arms))
        self.validate()
        arrays = [self.odors, self.choices, self.rewards, self.mask, self.sessions, self.ignored,
                  *self.covariates.values()] + ([self.reward_probs] if self.reward_probs is not None else [])
        for a in arrays:  # validated: later in-place edits are refused
            a.flags.writeable = False

    def validate(self) -> None:
        if self.readout not in READOUTS:
            raise DatasetError(f"readout must be one of {list(READOUTS)}, got {self.readout!r}")
        shape = self.choices.shape
        if len(shape) != 2 or shape[0] != len(self.subjects):
            raise DatasetError(f"field 'choices' has shape {shape}, expected (subjects={len(self.subjects)}, trials)")
        if shape[0] < 1:
            raise DatasetError("no subjects: a choice data set needs at least one subject with one trial")
        if len(set(self.subjects)) != len(self.subjects):
            raise DatasetError("field 'subjects' names a subject twice")
        for name in ("odors", "rewards", "mask", "sessions", "ignored"):
            if getattr(self, name).shape != shape:
                raise DatasetError(f"field {name!r} has shape {getattr(self, name).shape}, expected {shape}")
        for name, value in self.covariates.items():
            if value.shape != shape:
                raise DatasetError(f"covariate {name!r} has shape {value.shape}, expected {shape}")
        if self.reward_probs is not None:
            if self.reward_probs.shape != shape + (self.n_arms,):
                raise DatasetError(f"field 'reward_probs' has shape {self.reward_probs.shape}, expected "
                                   f"{shape + (self.n_arms,)} (subjects, trials, arms)")
            p = self.reward_probs[self.mask]
            if np.any((p[np.isfinite(p)] < 0) | (p[np.isfinite(p)] > 1)) or np.any(np.isinf(p)):
                raise DatasetError("field 'reward_probs' must hold probabilities in [0, 1] (NaN where unknown)")
        if self.readout != "bandit" and self.n_arms != 2:
            raise DatasetError(f"readout {self.readout!r} has 2 options; n_arms = {self.n_arms} needs readout 'bandit'")
        if np.any(self.ignored & ~self.mask):
            raise DatasetError("field 'ignored' marks a padding trial (mask False)")
        empty = [self.subjects[i] for i in np.flatnonzero(~self.observed.any(axis=1))]
        if empty:
            raise DatasetError(f"subject {empty[0]!r} has no trials with a choice"
                               + (f" (and {len(empty) - 1} more)" if len(empty) > 1 else ""))
        if not np.all(np.isfinite(self.rewards)):
            raise DatasetError("field 'rewards' holds non-finite values")
        self._check_sessions()
        m = self.observed
        if np.any(self.choices[self.ignored] != IGNORED):
            raise DatasetError(f"field 'choices' must hold {IGNORED} on ignored trials")
        if self.readout == "bandit":
            if np.any((self.choices[m] < 0) | (self.choices[m] >= self.n_arms)):
                raise DatasetError(f"field 'choices' must hold arms 0 … {self.n_arms - 1} on every trial with a choice")
            return
        if np.any(~np.isin(self.choices[m], (0, 1))):
            raise DatasetError("field 'choices' must hold 0 or 1 on every trial")
        if np.any(~np.isin(self.rewards[m], (0.0, 1.0))):
            raise DatasetError("field 'rewards' must hold 0 or 1 on every trial")
        if self.readout == "accept":
            if np.any((self.odors[m] < 0) | (self.odors[m] >= self.n_odors)):
                raise DatasetError(f"field 'odors' must hold odor indices in [0, {self.n_odors}) on every trial")
            if np.any(self.rewards[m] > self.choices[m]):
                raise DatasetError("field 'rewards': a rejected odor cannot be rewarded")

    def _check_sessions(self) -> None:
        for s in range(self.n_subjects):
            sess = self.sessions[s][self.mask[s]]
            if sess.size and (sess[0] < 0 or np.any(np.diff(sess) < 0)):
                bad = int(np.flatnonzero(np.diff(sess) < 0)[0]) + 1 if sess[0] >= 0 else 0
                raise DatasetError(f"field 'sessions' of subject {self.subjects[s]!r} must count 0, 1, … in trial "
                                   f"order; trial {bad} goes back to session {int(sess[bad])}")

    @property
    def observed(self) -> np.ndarray:
        """Trials with a choice, ``(subjects, trials)``: existing and not ignored."""
        return self.mask & ~self.ignored

    @property
    def n_options(self) -> int:
        """Options a choice is made among (2 for the odor readouts)."""
        return self.n_arms

    @property
    def n_sessions(self) -> np.ndarray:
        """Sessions per subject, ``(subjects,)``."""
        return np.array([int(self.sessions[s][self.mask[s]].max()) + 1 for s in range(self.n_subjects)])

    @property
    def session_starts(self) -> np.ndarray:
        """``(subjects, trials)`` bool: the first trial of every session."""
        prev = np.concatenate([np.full((self.n_subjects, 1), -1), self.sessions[:, :-1]], axis=1)
        return (self.sessions != prev) & self.mask

    @property
    def n_subjects(self) -> int:
        return len(self.subjects)

    @property
    def n_trials(self) -> np.ndarray:
        """Trials per subject, ``(subjects,)``."""
        return self.mask.sum(axis=1)


    @property
    def n_choices(self) -> np.ndarray:
        """Decisions that completed a trial per subject, ``(subjects,)``: accepts (accept
        readout) or every choice (two-alternative)."""
        done = self.choices == 1 if self.readout == "accept" else np.ones_like(self.mask)
        return (done & self.observed).sum(axis=1)

    def select(self, indices) -> "ChoiceDataset":
        """The subjects at ``indices`` (ints), in that order."""
        idx = np.asarray(indices, int).ravel()
        if idx.size == 0 or np.any((idx < 0) | (idx >= self.n_subjects)):
            raise DatasetError(f"select: subject indices must lie in [0, {self.n_subjects}), got {idx.tolist()}")
        return dataclasses.replace(
            self, subjects=tuple(self.subjects[i] for i in idx), odors=self.odors[idx], choices=self.choices[idx],
            rewards=self.rewards[idx], mask=self.mask[idx], sessions=self.sessions[idx], ignored=self.ignored[idx],
            reward_probs=None if self.reward_probs is None else self.reward_probs[idx],
            covariates={k: v[idx] for k, v in self.covariates.items()},
        )

    def split_session(self, fraction: float) -> tuple["ChoiceDataset", "ChoiceDataset"]:
        """Each subject's first ``fraction`` of trials, and the rest (Mehta et al. 2024, A.6).

        Trials are counted as completed decisions (:attr:`n_choices`); an accept-readout
        trial keeps its rejections with it. Both parts start at trial 0 of their own arrays.
        """
        if not 0.0 < fraction < 1.0:
            raise DatasetError(f"split_session: fraction must lie in (0, 1), got {fraction}")
        heads, tails = [], []
        for s in range(self.n_subjects):
            m = self.mask[s]
            done = (self.choices[s] == 1 if self.readout == "accept" else np.ones_like(m)) & self.observed[s]
            n_head = int(np.floor(fraction * done.sum()))
            if n_head < 1 or n_head >= done.sum():
                raise DatasetError(f"split_session: subject {self.subjects[s]!r} has {done.sum()} trials, too few to split at {fraction}")
            cut = int(np.flatnonzero(done)[n_head - 1]) + 1  # after the n_head-th completed trial
            last = int(np.flatnonzero(m)[-1]) + 1
            heads.append(slice(0, cut))
            tails.append(slice(cut, last))

        return self.trials(heads), self.trials(tails)

    def trials(self, slices) -> "ChoiceDataset":
        """Per subject, the trials ``slices[s]`` (a slice or index array), every per-trial
        field cut alike and re-padded; sessions renumbered from 0 within each part."""
        pick = lambda a: [a[s][sl] for s, sl in enumerate(slices)]  # noqa: E731
        sessions = [x - x.min() if x.size else x for x in pick(self.sessions)]
        return _stack(self.subjects, pick(self.odors), pick(self.choices), pick(self.rewards), self.readout,
                      dict(self.meta), sessions=sessions, ignored=pick(self.ignored), n_arms=self.n_arms,
                      reward_probs=None if self.reward_probs is None else pick(self.reward_probs),
                      covariates={k: pick(v) for k, v in self.covariates.items()})

    def to_table(self):
        """The tidy table (pandas) :func:`~plastinfer.data.load_choice_table` reads back."""
        from ._table import to_table

        return to_table(self)

    def save_table(self, path: str | Path, *, force: bool = False) -> Path:
        """:meth:`to_table` as a CSV or Parquet file (by suffix); see :func:`~plastinfer.data.save_table`."""
        from ._table import save_table

        return save_table(self, path, force=force)

    def to_csv(self, path: str | Path, *, force: bool = False) -> None:
        """Write the tidy table :func:`load_choice_csv` reads (one row per presentation)."""
        from .._io import atomic_write

        path = Path(path)
        if path.exists() and not force:
            raise FileExistsError(f"{path} exists; pass force=True to overwrite it")
        lines = [",".join(_CSV_COLUMNS)]
        for s, name in enumerate(self.subjects):
            for t in np.flatnonzero(self.mask[s]):
                odor = "" if self.odors[s, t] < 0 else str(int(self.odors[s, t]))
                lines.append(f"{name},{t},{odor},{int(self.choices[s, t])},{int(self.rewards[s, t])}")
        atomic_write(path, lambda fh: fh.write(("\n".join(lines) + "\n").encode()))


def _stack(subjects, odors, choices, rewards, readout, meta, *, sessions=None, ignored=None, n_arms=2,
           reward_probs=None, covariates=None) -> ChoiceDataset:
    """Per-subject sequences → a padded :class:`ChoiceDataset` (padding: choice 0, not a trial)."""
    n = max(len(c) for c in choices)

    def pad(seqs, fill):
        return np.array([np.pad(np.asarray(s, float), [(0, n - len(s))] + [(0, 0)] * (np.ndim(s) - 1),
                                constant_values=fill) for s in seqs])

    mask = np.array([np.arange(n) < len(c) for c in choices])
    ign = None if ignored is None else pad(ignored, 0).astype(bool)
    ch = pad(choices, 0).astype(int)
    if ign is not None:
        ch[ign] = IGNORED
    return ChoiceDataset(tuple(subjects), pad(odors, -1).astype(int), ch, pad(rewards, 0), mask, readout, 2, meta,
                         sessions=None if sessions is None else pad(sessions, 0).astype(int), ignored=ign,
                         n_arms=n_arms, reward_probs=None if reward_probs is None else pad(reward_probs, np.nan),
                         covariates={k: pad(v, np.nan) for k, v in (covariates or {}).items()})


def _loadmat(path: Path, variable: str) -> np.ndarray:
    from scipy.io import loadmat  # reads MATLAB v5 files without unpickling
    from scipy.io.matlab import MatReadError

    try:
        content = loadmat(path)
    except (MatReadError, ValueError, TypeError, OSError, NotImplementedError, KeyError, IndexError, EOFError,
            OverflowError, UnicodeDecodeError, AttributeError, MemoryError) as err:
        raise DatasetError(f"{path}: not a readable MATLAB file ({type(err).__name__}: {' '.join(str(err).split())[:100]})") from None
    if variable not in content:
        found = sorted(k for k in content if not k.startswith("__"))
        raise DatasetError(f"{path}: missing variable {variable!r} (found {found})")
    value = np.asarray(content[variable])
    if value.dtype.kind not in "iufb":
        raise DatasetError(f"{path}: variable {variable!r} must be numeric, got {value.dtype}")
    if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
        raise DatasetError(f"{path}: variable {variable!r} holds non-finite values")
    return value


def load_fly_folder(folder: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One fly of Rajagopalan et al. 2023: ``choice_order.mat`` and ``reward_order.mat``,
    each ``(trials_per_block, blocks)`` with odors 1/2 (reward 0 = unrewarded).

    Returns ``(choices, rewards)`` in trial order (block by block): choice 0/1 for odor 1/2,
    reward 0/1. A 0 in ``choice_order`` marks a trial that did not happen (sessions that
    ended early, seen in 5 of the 21 real flies); only trailing ones are accepted and they
    are dropped.
    """
    folder = Path(folder)
    c_path, r_path = folder / "choice_order.mat", folder / "reward_order.mat"
    for p in (c_path, r_path):
        if not p.exists():
            raise DatasetError(f"{p}: no such file")
    choice = _loadmat(c_path, "choice_order")
    reward = _loadmat(r_path, "reward_order")
    if choice.ndim != 2:
        raise DatasetError(f"{c_path}: field 'choice_order' must be 2-D (trials, blocks), got shape {choice.shape}")
    if reward.shape != choice.shape:
        raise DatasetError(f"{r_path}: field 'reward_order' has shape {reward.shape}, 'choice_order' has {choice.shape}")
    if not np.all(np.isin(choice, (0, 1, 2))):
        raise DatasetError(f"{c_path}: field 'choice_order' must hold odors 1 or 2 (0: no trial), found {sorted(set(np.unique(choice).tolist()) - {0, 1, 2})}")
    if not np.all((reward == 0) | (reward == choice)):
        raise DatasetError(f"{r_path}: field 'reward_order' must be 0 or equal to the chosen odor")
    c = choice.T.ravel().astype(int)
    done = np.flatnonzero(c == 0)
    n = int(done[0]) if done.size else c.size
    if np.any(c[n:] != 0):
        raise DatasetError(f"{c_path}: field 'choice_order' has a missing trial (0) before trial {int(np.flatnonzero(c[n:])[0]) + n + 1}; only trailing ones are allowed")
    return c[:n] - 1, (reward.T.ravel()[:n] != 0).astype(float)


def load_fly_folders(root: str | Path) -> ChoiceDataset:
    """Every fly below ``root`` (each a folder holding ``choice_order.mat``), sorted by path.

    Two-alternative readout: one choice between odor 1 and odor 2 per trial.
    """
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"{root}: no such folder")
    folders = sorted(p.parent for p in root.rglob("choice_order.mat"))
    if not folders:
        raise DatasetError(f"{root}: no fly folders (none holds choice_order.mat)")
    choices, rewards = zip(*(load_fly_folder(f) for f in folders))
    names = [str(f.relative_to(root)) for f in folders]
    odors = [np.full(len(c), -1) for c in choices]
    return _stack(names, odors, choices, rewards, "two_alternative", {"source": str(root), "format": "fly-folders"})


_CSV_COLUMNS = ("subject", "trial", "odor", "choice", "reward")


def load_choice_csv(path: str | Path, readout: str = "accept") -> ChoiceDataset:
    """A tidy table, one row per presentation: ``subject, trial, odor, choice, reward``.

    ``odor`` is the presented odor (0-based; may be empty for ``two_alternative``),
    ``choice`` 1/0 (accept/reject) or the chosen odor 0/1, ``reward`` 0/1. Rows are
    ordered by ``trial`` within each subject.
    """
    path = check_file(path, "a choice table is a CSV file")
    if readout not in READOUTS:
        raise DatasetError(f"readout must be one of {list(READOUTS)}, got {readout!r}")
    text = _read_text(path)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        fields = [f.strip() for f in (reader.fieldnames or [])]
    except csv.Error as err:
        raise DatasetError(f"{path}, line 1: not a CSV header ({err})") from None
    reader.fieldnames = fields
    missing = [c for c in _CSV_COLUMNS if c not in fields]
    if missing and not (readout == "two_alternative" and missing == ["odor"]):
        raise DatasetError(f"{path}: missing column(s) {missing}; expected {list(_CSV_COLUMNS)} (found {fields})")
    rows: dict[str, list[tuple[float, int, int, float]]] = {}
    seen: dict[tuple[str, float], int] = {}
    try:
        for line, row in enumerate(reader, start=2):
            if None in row or any(row.get(c) is None for c in _CSV_COLUMNS if c in fields):
                raise DatasetError(f"{path}, line {line}: {len(fields)} columns expected")
            try:
                odor = _csv_int(row.get("odor") or "", "odor", default=-1)
                record = (_csv_float(row["trial"], "trial"), odor, _csv_int(row["choice"], "choice"),
                          _csv_float(row["reward"], "reward"))
            except ValueError as err:
                raise DatasetError(f"{path}, line {line}: {err}") from None
            if readout == "accept" and odor < 0:
                raise DatasetError(f"{path}, line {line}: column 'odor' is required for the accept readout")
            subject = row["subject"].strip()
            if not subject:
                raise DatasetError(f"{path}, line {line}: column 'subject' is empty")
            if (subject, record[0]) in seen:
                raise DatasetError(f"{path}, line {line}: subject {subject!r} trial {row['trial'].strip()} repeats line "
                                   f"{seen[(subject, record[0])]}")
            seen[(subject, record[0])] = line
            rows.setdefault(subject, []).append(record)
    except csv.Error as err:
        raise DatasetError(f"{path}, line {reader.line_num}: malformed CSV ({err})") from None
    if not rows:
        raise DatasetError(f"{path}: no rows")
    subjects = list(rows)
    ordered = [sorted(rows[s]) for s in subjects]
    try:
        return _stack(subjects, [[r[1] for r in o] for o in ordered], [[r[2] for r in o] for o in ordered],
                      [[r[3] for r in o] for o in ordered], readout, {"source": str(path), "format": "csv"})
    except DatasetError as err:
        raise DatasetError(f"{path}: {err}") from None


def _read_text(path: Path, limit: int = 1 << 30) -> str:
    """A text file as UTF-8 (a byte-order mark is accepted); other encodings are named."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise DatasetError(f"{path}: {size:,} bytes is larger than the {limit:,} a table may have")
        raw = path.read_bytes()
    except OSError as err:
        raise DatasetError(f"{path}: cannot read ({err.strerror})") from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DatasetError(f"{path}: UTF-16 text; save the table as UTF-8")
    if b"\x00" in raw:
        raise DatasetError(f"{path}: binary content (NUL bytes), not a CSV table")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DatasetError(f"{path}: not UTF-8 text (byte {err.start}: {raw[err.start:err.start + 1]!r}; Latin-1 or "
                           "another encoding?); save the table as UTF-8") from None


def _csv_float(text: str, column: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise DatasetError(f"column {column!r}: {text.strip()!r} is not a number") from None
    if not np.isfinite(value):
        raise DatasetError(f"column {column!r}: {text.strip()!r} is not a finite number")
    return value


def _csv_int(text: str, column: str, default: int | None = None) -> int:
    text = text.strip()
    if not text and default is not None:
        return default
    value = _csv_float(text, column)
    if not value.is_integer():
        raise DatasetError(f"column {column!r}: {text!r} is not an integer")
    return int(value)


def load_xyr_mat(path: str | Path) -> ChoiceDataset:
    """One subject in the MATLAB layout of Mehta et al.'s fly data: ``X`` one-hot odor per
    presentation ``(n, n_odors)``, ``Y`` accept/reject ``(n,)``, ``R`` reward per accepted
    presentation (length ``Σ Y``) or per presentation (length ``n``). Accept readout."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file")
    x, y, r = (_loadmat(path, v) for v in ("X", "Y", "R"))
    y = y.ravel()
    r = r.ravel().astype(float)
    if x.ndim != 2 or x.shape[0] != y.size:
        raise DatasetError(f"{path}: field 'X' has shape {x.shape}, expected ({y.size}, n_odors) to match 'Y'")
    if not np.all(x.sum(axis=1) == 1) or not np.all(np.isin(x, (0, 1))):
        raise DatasetError(f"{path}: field 'X' must be one-hot (one odor per presentation)")
    if not np.all(np.isin(y, (0, 1))):
        raise DatasetError(f"{path}: field 'Y' must hold 0 (reject) or 1 (accept)")
    accepted = y.astype(bool)
    if r.size == y.size:
        rewards = r
    elif r.size == accepted.sum():
        rewards = np.zeros(y.size)
        rewards[accepted] = r
    else:
        raise DatasetError(f"{path}: field 'R' has {r.size} entries; expected {accepted.sum()} (accepted) or {y.size}")
    try:
        return _stack([path.stem], [x.argmax(axis=1)], [y.astype(int)], [rewards], "accept",
                      {"source": str(path), "format": "xyr-mat"})
    except DatasetError as err:
        raise DatasetError(f"{path}: {err}") from None
