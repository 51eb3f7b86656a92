"""A corpus of malformed and hostile inputs in plastinfer's real formats, generated here.

Every case runs the CLI in-process and must end with exit status 2 and a one-line
``plastinfer: error: …`` on stderr — no traceback — and must leave the folder it ran in
exactly as it was: nothing created, deleted or modified.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import zipfile
from pathlib import Path

import jax
import numpy as np
import pytest
import tomli_w
from scipy.io import savemat

from plastinfer.circuits import PlasticLayer
from plastinfer.cli import main
from plastinfer.data import simulate
from plastinfer.rules import oja
from plastinfer.runs import MANIFEST

CIRCUIT = {"kind": "plastic_layer", "n_in": 3, "n_out": 2, "nonlinearity": "linear", "eta": 0.05}
FIT = {"circuit": CIRCUIT, "model": {"family": "taylor", "order": 1},
       "fit": {"epochs": 2, "n_test": 1, "init_weights": "true"}}
SIM = {"circuit": CIRCUIT, "rule": {"name": "oja"}, "data": {"n_trajectories": 3, "n_steps": 4}}
CHOICE = {"circuit": {"kind": "choice", "readout": "accept"}, "model": {"family": "taylor", "variables": ["x", "r"],
                                                                        "order": 1},
          "fit": {"epochs": 2}}
CSV = "subject,trial,odor,choice,reward\nA,1,0,1,1\nA,2,1,0,0\nB,1,1,1,0\nB,2,0,1,1\n"


@pytest.fixture(scope="module")
def arrays():
    data = simulate(jax.random.PRNGKey(0), PlasticLayer(3, 2, "linear", eta=0.05), oja(), 3, 4)
    header = {"format": "plastinfer.dataset", "version": 1, "axes": ["trajectory", "time", "unit"], "n_out": 2,
              "meta": {}}
    return {"stimuli": np.array(data.stimuli), "activity": np.array(data.activity), "units": np.array(data.units),
            "init_weights": np.array(data.init_weights)}, header


def _npz(path: Path, arrays: dict, header=None, raw_header: bytes | None = None, compress=True) -> None:
    out = dict(arrays)
    if raw_header is not None:
        out["header"] = np.frombuffer(raw_header, np.uint8)
    elif header is not None:
        out["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    (np.savez_compressed if compress else np.savez)(path, **out)


def _toml(path: Path, cfg: dict) -> None:
    path.write_text(tomli_w.dumps(cfg))


def _set(cfg: dict, section: str, key: str, value) -> dict:
    out = json.loads(json.dumps(cfg))
    out.setdefault(section, {})[key] = value
    return out


def _huge_npy_member(path: Path, arrays: dict, header: dict) -> None:
    """A valid archive whose 'stimuli' member declares 10¹² elements but stores a few bytes."""
    _npz(path, {k: v for k, v in arrays.items() if k != "stimuli"}, header, compress=False)
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": (10**6, 10**6)})
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("stimuli.npy", buf.getvalue() + b"\0" * 64)


def _corrupt_deflate(path: Path, arrays: dict, header: dict) -> None:
    _npz(path, arrays, header)
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("activity.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for i in range(start + 10, start + info.compress_size - 2):
        raw[i] ^= 0x5A
    path.write_bytes(bytes(raw))


# ------------------------------------------------------------------ the corpus
# each case: (name, build(tmp, arrays, header) -> argv)
def _fit_with_data(build_data):
    def case(tmp, arrays, header):
        _toml(tmp / "cfg.toml", FIT)
        build_data(tmp / "d.npz", arrays, header)
        return ["fit", str(tmp / "cfg.toml"), "--data", str(tmp / "d.npz"), "-o", str(tmp / "run"), "--quiet"]
    return case


def _fit_with_config(cfg, data_name="d.npz"):
    def case(tmp, arrays, header):
        _npz(tmp / "d.npz", arrays, header)
        if isinstance(cfg, (bytes, str)):
            (tmp / "cfg.toml").write_bytes(cfg if isinstance(cfg, bytes) else cfg.encode())
        else:
            _toml(tmp / "cfg.toml", cfg)
        return ["fit", str(tmp / "cfg.toml"), "--data", str(tmp / data_name), "-o", str(tmp / "run"), "--quiet"]
    return case


def _simulate_with(cfg, output="out.npz"):
    def case(tmp, arrays, header):
        _toml(tmp / "sim.toml", cfg)
        return ["simulate", str(tmp / "sim.toml"), "-o", str(tmp / output)]
    return case


def _choice_with(csv_bytes: bytes, cfg=CHOICE, name="c.csv"):
    def case(tmp, arrays, header):
        _toml(tmp / "cfg.toml", cfg)
        (tmp / name).write_bytes(csv_bytes)
        return ["fit", str(tmp / "cfg.toml"), "--data", str(tmp / name), "-o", str(tmp / "run"), "--quiet"]
    return case


FLY_CFG = {"circuit": {"kind": "choice", "readout": "two_alternative"},
           "model": {"family": "taylor", "variables": ["x", "r"], "order": 1}, "fit": {"epochs": 2}}


def _flies_with(choice, reward, *, choice_var="choice_order", raw: bytes | None = None):
    def case(tmp, arrays, header):
        _toml(tmp / "cfg.toml", FLY_CFG)
        fly = tmp / "flies" / "fly1"
        fly.mkdir(parents=True)
        if raw is not None:
            (fly / "choice_order.mat").write_bytes(raw)
        else:
            savemat(fly / "choice_order.mat", {choice_var: np.asarray(choice, float)})
        savemat(fly / "reward_order.mat", {"reward_order": np.asarray(reward, float)})
        return ["fit", str(tmp / "cfg.toml"), "--data", str(tmp / "flies"), "-o", str(tmp / "run"), "--quiet"]
    return case


def _drop(key):
    return lambda p, a, h: _npz(p, {k: v for k, v in a.items() if k != key}, h)


def _with(**changes):
    return lambda p, a, h: _npz(p, {**a, **changes}, h)


def _header(**changes):
    return lambda p, a, h: _npz(p, a, {**h, **changes})


def _raw_header(raw: bytes):
    return lambda p, a, h: _npz(p, a, raw_header=raw)


GOOD_FLY = ([[1, 2], [2, 1]], [[1, 0], [0, 1]])

CASES = {
    # ---- data sets (.npz)
    "data: missing file": _fit_with_config(FIT, "none.npz"),
    "data: empty file": _fit_with_data(lambda p, a, h: p.write_bytes(b"")),
    "data: random bytes": _fit_with_data(lambda p, a, h: p.write_bytes(os.urandom(300))),
    "data: .npy renamed .npz": _fit_with_data(lambda p, a, h: np.save(open(p, "wb"), a["stimuli"])),
    "data: truncated archive": _fit_with_data(lambda p, a, h: (_npz(p, a, h), p.write_bytes(p.read_bytes()[:400]))),
    "data: corrupt deflate stream": _fit_with_data(_corrupt_deflate),
    "data: 10^12 elements declared": _fit_with_data(_huge_npy_member),
    "data: no header": _fit_with_data(lambda p, a, h: _npz(p, a)),
    "data: header not JSON": _fit_with_data(_raw_header(b"{not json")),
    "data: header not UTF-8": _fit_with_data(_raw_header(b"\xff\xfe\x00{}")),
    "data: header a list": _fit_with_data(_raw_header(b"[1, 2]")),
    "data: header a string": _fit_with_data(_raw_header(b'"plastinfer"')),
    "data: header null": _fit_with_data(_raw_header(b"null")),
    "data: header n_out 'twenty'": _fit_with_data(_header(n_out="twenty")),
    "data: header n_out null": _fit_with_data(_header(n_out=None)),
    "data: header n_out 2.5": _fit_with_data(_header(n_out=2.5)),
    "data: header n_out -1": _fit_with_data(_header(n_out=-1)),
    "data: header n_out true": _fit_with_data(_header(n_out=True)),
    "data: header format wrong": _fit_with_data(_header(format="other")),
    "data: header version 99": _fit_with_data(_header(version=99)),
    "data: header version 'x'": _fit_with_data(_header(version="x")),
    "data: header meta a list": _fit_with_data(_header(meta=[1, 2])),
    "data: header without n_out": _fit_with_data(lambda p, a, h: _npz(p, a, {k: v for k, v in h.items() if k != "n_out"})),
    "data: missing activity": _fit_with_data(_drop("activity")),
    "data: missing units": _fit_with_data(_drop("units")),
    "data: unknown field": _fit_with_data(lambda p, a, h: _npz(p, {**a, "extra": np.zeros(2)}, h)),
    "data: stimuli 2-D": _fit_with_data(lambda p, a, h: _npz(p, {**a, "stimuli": a["stimuli"][0]}, h)),
    "data: activity shape mismatch": _fit_with_data(lambda p, a, h: _npz(p, {**a, "activity": a["activity"][:, :2]}, h)),
    "data: zero recorded units": _fit_with_data(lambda p, a, h: _npz(
        p, {**a, "activity": a["activity"][..., :0], "units": np.zeros(0, np.int64)}, h)),
    "data: units out of range": _fit_with_data(_with(units=np.array([0, 5]))),
    "data: units repeated": _fit_with_data(_with(units=np.array([1, 1]))),
    "data: units float": _fit_with_data(_with(units=np.array([0.0, 1.0]))),
    "data: NaN activity": _fit_with_data(lambda p, a, h: _npz(p, {**a, "activity": np.where(
        np.arange(a["activity"].size).reshape(a["activity"].shape) == 3, np.nan, a["activity"])}, h)),
    "data: inf stimuli": _fit_with_data(lambda p, a, h: _npz(p, {**a, "stimuli": a["stimuli"] * np.inf}, h)),
    "data: string array": _fit_with_data(_with(stimuli=np.full((3, 4, 3), "a"))),
    "data: complex array": _fit_with_data(lambda p, a, h: _npz(p, {**a, "stimuli": a["stimuli"] + 1j}, h)),
    "data: pickled object array": _fit_with_data(lambda p, a, h: np.savez(
        p, **{**a, "stimuli": np.array([object()], dtype=object)}, header=np.frombuffer(json.dumps(h).encode(), np.uint8))),
    "data: zero trajectories": _fit_with_data(lambda p, a, h: _npz(
        p, {**a, "stimuli": a["stimuli"][:0], "activity": a["activity"][:0], "init_weights": a["init_weights"][:0]}, h)),
    "data: zero time steps": _fit_with_data(lambda p, a, h: _npz(
        p, {**a, "stimuli": a["stimuli"][:, :0], "activity": a["activity"][:, :0]}, h)),
    "data: init_weights wrong shape": _fit_with_data(_with(init_weights=np.zeros((3, 3, 3)))),
    "data: rewards wrong shape": _fit_with_data(_with(rewards=np.zeros((2, 2)))),
    "data: a folder": _fit_with_data(lambda p, a, h: p.mkdir()),
    "data: n_in disagrees with circuit": _fit_with_data(lambda p, a, h: _npz(
        p, {**a, "stimuli": np.concatenate([a["stimuli"], a["stimuli"]], -1),
            "init_weights": np.zeros((3, 2, 6), np.float32)}, h)),
    "data: header circuit too large for memory": lambda t, a, h: (
        _npz(t / "d.npz", a, {**h, "n_out": 10**11, "meta": {"circuit": {**CIRCUIT, "n_out": 10**11}}}),
        _toml(t / "cfg.toml", {k: v for k, v in FIT.items() if k != "circuit"}),
        ["fit", str(t / "cfg.toml"), "--data", str(t / "d.npz"), "-o", str(t / "run")])[2],
    "data: header circuit malformed": lambda t, a, h: (
        _npz(t / "d.npz", a, {**h, "meta": {"circuit": "plastic"}}),
        _toml(t / "cfg.toml", {k: v for k, v in FIT.items() if k != "circuit"}),
        ["fit", str(t / "cfg.toml"), "--data", str(t / "d.npz"), "-o", str(t / "run")])[2],
    "data: a device, not a file": lambda t, a, h: (_toml(t / "cfg.toml", FIT), [
        "fit", str(t / "cfg.toml"), "--data", "/dev/zero", "-o", str(t / "run")])[1],
    "config: a device, not a file": lambda t, a, h: [
        "fit", "/dev/zero", "--data", str(t / "d.npz"), "-o", str(t / "run")],
    "config: too large": _fit_with_config("# " + "x" * (2 << 20) + "\n"),
    # ---- configs
    "config: missing": lambda t, a, h: ["fit", str(t / "none.toml"), "--data", str(t / "d.npz"), "-o", str(t / "r")],
    "config: a folder": lambda t, a, h: ((t / "cfg.toml").mkdir(),
                                         ["fit", str(t / "cfg.toml"), "--data", str(t / "d.npz"), "-o", str(t / "r")])[1],
    "config: not TOML": _fit_with_config("[fit\nepochs = "),
    "config: binary": _fit_with_config(b"\x00\xff\xfe garbage \x80"),
    "config: Latin-1": _fit_with_config("[fit]\nepochs = 2\n# caf\xe9\n".encode("latin-1")),
    "config: unknown table": _fit_with_config({**FIT, "bogus": {"a": 1}}),
    "config: table is a value": _fit_with_config('fit = 3\n'),
    "fit: epochs 2.5": _fit_with_config(_set(FIT, "fit", "epochs", 2.5)),
    "fit: epochs -1": _fit_with_config(_set(FIT, "fit", "epochs", -1)),
    "fit: epochs 'ten'": _fit_with_config(_set(FIT, "fit", "epochs", "ten")),
    "fit: epochs true": _fit_with_config(_set(FIT, "fit", "epochs", True)),
    "fit: batch_size 0.5": _fit_with_config(_set(FIT, "fit", "batch_size", 0.5)),
    "fit: batch_size 0": _fit_with_config(_set(FIT, "fit", "batch_size", 0)),
    "fit: learning_rate nan": _fit_with_config(_set(FIT, "fit", "learning_rate", float("nan"))),
    "fit: learning_rate inf": _fit_with_config(_set(FIT, "fit", "learning_rate", float("inf"))),
    "fit: learning_rate -1": _fit_with_config(_set(FIT, "fit", "learning_rate", -1.0)),
    "fit: learning_rate a string": _fit_with_config(_set(FIT, "fit", "learning_rate", "0.1")),
    "fit: seed 'abc'": _fit_with_config(_set(FIT, "fit", "seed", "abc")),
    "fit: seed 1.5": _fit_with_config(_set(FIT, "fit", "seed", 1.5)),
    "fit: unknown key": _fit_with_config(_set(FIT, "fit", "epoch", 3)),
    "fit: n_test too large": _fit_with_config(_set(FIT, "fit", "n_test", 3)),
    "fit: n_test -1": _fit_with_config(_set(FIT, "fit", "n_test", -1)),
    "fit: n_test 1.5": _fit_with_config(_set(FIT, "fit", "n_test", 1.5)),
    "fit: optimizer unknown": _fit_with_config(_set(FIT, "fit", "optimizer", "nope")),
    "fit: optimizer not an optimizer": _fit_with_config(_set(FIT, "fit", "optimizer", "apply_updates")),
    "fit: optimizer private name": _fit_with_config(_set(FIT, "fit", "optimizer", "__class__")),
    "fit: solver unknown": _fit_with_config(_set(FIT, "fit", "solver", "newton")),
    "fit: init_weights unknown": _fit_with_config(_set(FIT, "fit", "init_weights", "random")),
    "fit: clip nan": _fit_with_config(_set(FIT, "fit", "clip", float("nan"))),
    "fit: l1 -1": _fit_with_config(_set(FIT, "fit", "l1", -1.0)),
    "fit: select_every 0": _fit_with_config(_set(FIT, "fit", "select_every", 0)),
    "fit: latent_warmup -1": _fit_with_config(_set(FIT, "fit", "latent_warmup", -1)),
    "fit: checkpoint 'x'": _fit_with_config(_set(FIT, "fit", "checkpoint", "x")),
    "model: order -1": _fit_with_config(_set(FIT, "model", "order", -1)),
    "model: order 2.5": _fit_with_config(_set(FIT, "model", "order", 2.5)),
    "model: order 1000": _fit_with_config(_set(FIT, "model", "order", 1000)),
    "model: family unknown": _fit_with_config(_set(FIT, "model", "family", "spline")),
    "model: family a number": _fit_with_config(_set(FIT, "model", "family", 3)),
    "model: init_scale nan": _fit_with_config(_set(FIT, "model", "init_scale", float("nan"))),
    "model: init_scale 'big'": _fit_with_config(_set(FIT, "model", "init_scale", "big")),
    "model: variables unknown": _fit_with_config(_set(FIT, "model", "variables", ["q"])),
    "model: variables a number": _fit_with_config(_set(FIT, "model", "variables", 3)),
    "model: variables a string": _fit_with_config(_set(FIT, "model", "variables", "xyw")),
    "model: terms NaN": _fit_with_config(_set(FIT, "model", "terms", {"x1y1w0": float("nan")})),
    "model: terms malformed name": _fit_with_config(_set(FIT, "model", "terms", {"zz": 1.0})),
    "model: mlp width 0": _fit_with_config({**FIT, "model": {"family": "mlp", "width": 0}}),
    "model: mlp width 2.5": _fit_with_config({**FIT, "model": {"family": "mlp", "width": 2.5}}),
    "model: mlp activation unknown": _fit_with_config({**FIT, "model": {"family": "mlp", "activation": "swish2"}}),
    "model: equation x^1000000": _fit_with_config({**FIT, "model": {"equation": "x^1000000"}}),
    "model: equation (x+y)^1000": _fit_with_config({**FIT, "model": {"equation": "(x+y)^1000"}}),
    "model: equation code": _fit_with_config({**FIT, "model": {"equation": "__import__('os').system('true')"}}),
    "model: equation deeply nested": _fit_with_config({**FIT, "model": {"equation": "(" * 3000 + "x" + ")" * 3000}}),
    "model: equation a number": _fit_with_config({**FIT, "model": {"equation": 3}}),
    "model: equation 1e400": _fit_with_config({**FIT, "model": {"equation": "1e400*x"}}),
    "circuit: kind unknown": _fit_with_config(_set(FIT, "circuit", "kind", "hopfield")),
    "circuit: n_out 3.7": _fit_with_config(_set(FIT, "circuit", "n_out", 3.7)),
    "circuit: n_out 0": _fit_with_config(_set(FIT, "circuit", "n_out", 0)),
    "circuit: eta nan": _fit_with_config(_set(FIT, "circuit", "eta", float("nan"))),
    "circuit: nonlinearity unknown": _fit_with_config(_set(FIT, "circuit", "nonlinearity", "relu6")),
    "circuit: n_in a string": _fit_with_config(_set(FIT, "circuit", "n_in", "3")),
    "circuit: unknown key": _fit_with_config(_set(FIT, "circuit", "n_hidden", 3)),
    "circuit: LIF from the CLI": _fit_with_config({**FIT, "circuit": {"kind": "lif_neuron"}}),
    "circuit: choice circuit on activity data": _fit_with_config({**FIT, "circuit": {"kind": "choice"}}),
    # ---- simulate
    "simulate: samples_per_step 0": _simulate_with(_set(SIM, "data", "samples_per_step", 0)),
    "simulate: n_trajectories 0": _simulate_with(_set(SIM, "data", "n_trajectories", 0)),
    "simulate: n_steps 2.5": _simulate_with(_set(SIM, "data", "n_steps", 2.5)),
    "simulate: noise_std nan": _simulate_with(_set(SIM, "data", "noise_std", float("nan"))),
    "simulate: fraction_recorded 2": _simulate_with(_set(SIM, "data", "fraction_recorded", 2.0)),
    "simulate: seed 'abc'": _simulate_with(_set(SIM, "data", "seed", "abc")),
    "simulate: input_std -1": _simulate_with(_set(SIM, "data", "input_std", -1.0)),
    "simulate: 10^12 steps": _simulate_with({**SIM, "data": {"n_trajectories": 10**6, "n_steps": 10**6}}),
    "simulate: huge layer": _simulate_with(_set(SIM, "circuit", "n_out", 10**9)),
    "simulate: rule unknown": _simulate_with({**SIM, "rule": {"name": "bcm2"}}),
    "simulate: no [rule]": _simulate_with({k: v for k, v in SIM.items() if k != "rule"}),
    "simulate: output not .npz": _simulate_with(SIM, "out.csv"),
    "simulate: output exists": lambda t, a, h: ((t / "out.npz").write_bytes(b"keep"), _simulate_with(SIM)(t, a, h))[1],
    "simulate: --force over a non-data file": lambda t, a, h: (
        (t / "mine.npz").write_bytes(b"user's file"), _simulate_with(SIM, "mine.npz")(t, a, h) + ["--force"])[1],
    "simulate: output inside a file": lambda t, a, h: (
        (t / "f").write_text("x"), _simulate_with(SIM, "f/out.npz")(t, a, h))[1],
    "simulate: output a folder": lambda t, a, h: ((t / "d.npz").mkdir(), _simulate_with(SIM, "d.npz")(t, a, h))[1],
    # ---- choice tables (CSV)
    "csv: missing column": _choice_with(b"subject,trial,choice,reward\nA,1,1,1\n"),
    "csv: Latin-1": _choice_with("subject,trial,odor,choice,reward\nJos\xe9,1,0,1,1\n".encode("latin-1")),
    "csv: UTF-16": _choice_with(CSV.encode("utf-16")),
    "csv: binary": _choice_with(b"\x00\x01\x02\x03" * 50),
    "csv: trial inf": _choice_with(CSV.replace("A,2,", "A,inf,").encode()),
    "csv: trial nan": _choice_with(CSV.replace("A,2,", "A,nan,").encode()),
    "csv: reward nan": _choice_with(CSV.replace("A,2,1,0,0", "A,2,1,0,nan").encode()),
    "csv: duplicated row": _choice_with((CSV + "B,2,0,1,1\n").encode()),
    "csv: choice 2": _choice_with(CSV.replace("A,2,1,0,0", "A,2,1,2,0").encode()),
    "csv: choice 0.5": _choice_with(CSV.replace("A,2,1,0,0", "A,2,1,0.5,0").encode()),
    "csv: reward 0.5": _choice_with(CSV.replace("A,1,0,1,1", "A,1,0,1,0.5").encode()),
    "csv: choice 'yes'": _choice_with(CSV.replace("A,2,1,0,0", "A,2,1,yes,0").encode()),
    "csv: header only": _choice_with(b"subject,trial,odor,choice,reward\n"),
    "csv: empty file": _choice_with(b""),
    "csv: missing odor for accept": _choice_with(CSV.replace("A,2,1,0,0", "A,2,,0,0").encode()),
    "csv: odor out of range": _choice_with(CSV.replace("A,2,1,0,0", "A,2,7,0,0").encode()),
    "csv: rejected yet rewarded": _choice_with(CSV.replace("A,2,1,0,0", "A,2,1,0,1").encode()),
    "csv: short row": _choice_with((CSV + "C,1\n").encode()),
    "csv: long row": _choice_with((CSV + "C,1,0,1,1,9\n").encode()),
    "csv: empty subject": _choice_with((CSV + ",3,0,1,1\n").encode()),
    "csv: wrong extension": _choice_with(CSV.encode(), name="c.txt"),
    "csv: n_test too large": _choice_with(CSV.encode(), cfg=_set(CHOICE, "fit", "n_test", 2)),
    "choice fit: epochs 1.5": _choice_with(CSV.encode(), cfg=_set(CHOICE, "fit", "epochs", 1.5)),
    "choice fit: learning_rate nan": _choice_with(CSV.encode(), cfg=_set(CHOICE, "fit", "learning_rate", float("nan"))),
    "choice fit: optimizer unknown": _choice_with(CSV.encode(), cfg=_set(CHOICE, "fit", "optimizer", "adamw2")),
    # ---- fly folders (MATLAB)
    "flies: no fly folders": lambda t, a, h: ((t / "flies").mkdir(), _toml(t / "cfg.toml", FLY_CFG), [
        "fit", str(t / "cfg.toml"), "--data", str(t / "flies"), "-o", str(t / "run")])[2],
    "flies: garbage .mat": _flies_with(None, GOOD_FLY[1], raw=b"MATLAB 5.0 garbage" + os.urandom(200)),
    "flies: empty .mat": _flies_with(None, GOOD_FLY[1], raw=b""),
    "flies: missing variable": _flies_with(*GOOD_FLY, choice_var="choices"),
    "flies: shapes disagree": _flies_with(GOOD_FLY[0], [[1, 0, 0], [0, 1, 0]]),
    "flies: odor 5": _flies_with([[1, 5], [2, 1]], GOOD_FLY[1]),
    "flies: reward for the other odor": _flies_with(GOOD_FLY[0], [[2, 0], [0, 1]]),
    "flies: empty session": _flies_with([[0, 0], [0, 0]], [[0, 0], [0, 0]]),
    "flies: missing trial in the middle": _flies_with([[1, 0], [0, 1]], [[0, 0], [0, 0]]),
    "flies: 3-D choice_order": _flies_with(np.ones((2, 2, 2)), np.ones((2, 2, 2))),
    "flies: NaN choices": _flies_with([[1, np.nan], [2, 1]], GOOD_FLY[1]),
}


# ---- run folders and reproductions: cases that need a finished run (see the ``finished`` fixture)
def _with_run(build):
    def case(tmp, arrays, header):
        shutil.copytree(FINISHED["run"], tmp / "run")
        shutil.copy(FINISHED["data"], tmp / "d.npz")
        _toml(tmp / "cfg.toml", FIT)
        return build(tmp, arrays, header)
    return case


def _fit_argv(tmp, *extra, data="d.npz", out="run", cfg="cfg.toml"):
    return ["fit", str(tmp / cfg), "--data", str(tmp / data), "-o", str(tmp / out), "--quiet", *extra]


def _add_to_manifest(run: Path, name: str) -> None:
    m = json.loads((run / MANIFEST).read_text())
    m["files"].append(name)
    (run / MANIFEST).write_text(json.dumps(m))


def _other_data(tmp, arrays, header):
    _npz(tmp / "other.npz", {**arrays, "activity": arrays["activity"] + 0.01}, header)


FINISHED: dict[str, Path] = {}

RUN_CASES = {
    "run: exists, no --force": _with_run(lambda t, a, h: _fit_argv(t)),
    "run: --force on the working folder": _with_run(lambda t, a, h: (
        (t / "notes.txt").write_text("mine"), _fit_argv(t, "--force", out="."))[1]),
    "run: --force on a folder of the user's": _with_run(lambda t, a, h: (
        (t / "mine").mkdir(), (t / "mine" / "x.py").write_text("print()"), _fit_argv(t, "--force", out="mine"))[2]),
    "run: --force on a run with a user's file added": _with_run(lambda t, a, h: (
        (t / "run" / "notes.md").write_text("mine"), _fit_argv(t, "--force"))[1]),
    "run: --force with the data inside the run": _with_run(lambda t, a, h: (
        shutil.copy(t / "d.npz", t / "run" / "d.npz"), _add_to_manifest(t / "run", "d.npz"),
        _fit_argv(t, "--force", data="run/d.npz"))[2]),
    "run: --force with the config inside the run": _with_run(lambda t, a, h: (
        shutil.copy(t / "cfg.toml", t / "run" / "c.toml"), _add_to_manifest(t / "run", "c.toml"),
        _fit_argv(t, "--force", cfg="run/c.toml"))[2]),
    "run: output inside a file": _with_run(lambda t, a, h: ((t / "f").write_text("x"), _fit_argv(t, out="f/run"))[1]),
    "run: output is a file": _with_run(lambda t, a, h: ((t / "f").write_text("x"), _fit_argv(t, "--force", out="f"))[1]),
    "run: --resume, nothing to resume": _with_run(lambda t, a, h: _fit_argv(t, "--resume", out="new")),
    "run: --resume on other data": _with_run(lambda t, a, h: (_other_data(t, a, h),
                                                              _fit_argv(t, "--resume", data="other.npz"))[1]),
    "run: --resume below the checkpoint's epoch": _with_run(lambda t, a, h: _fit_argv(t, "--resume", "--epochs", "1")),
    "run: --resume, checkpoint corrupted": _with_run(lambda t, a, h: (
        (t / "run" / "checkpoint.npz").write_bytes(b"PK\x03\x04 broken"), _fit_argv(t, "--resume"))[1]),
    "run: --resume, checkpoint of another model": _with_run(lambda t, a, h: (
        _toml(t / "cfg.toml", _set(FIT, "model", "order", 2)), _fit_argv(t, "--resume"))[1]),
    "run: --resume, checkpoint of another fit kind": _with_run(lambda t, a, h: (
        _toml(t / "cfg.toml", _set(FIT, "fit", "solver", "lbfgs")), _fit_argv(t, "--resume"))[1]),
    "run: an interrupted run is in the way": _with_run(lambda t, a, h: (
        (t / ".new.partial").mkdir(), shutil.copy(t / "run" / "checkpoint.npz", t / ".new.partial"),
        _fit_argv(t, out="new"))[2]),
    "run: --epochs -1": _with_run(lambda t, a, h: _fit_argv(t, "--epochs", "-1", out="new")),
    "run: --epochs abc": _with_run(lambda t, a, h: _fit_argv(t, "--epochs", "abc", out="new")),
    "run: --force and --resume": _with_run(lambda t, a, h: _fit_argv(t, "--force", "--resume")),
    "cli: unknown command": lambda t, a, h: ["frobnicate"],
    "cli: fit without --data": lambda t, a, h: ["fit", str(t / "cfg.toml"), "-o", str(t / "r")],
    "reproduce: unknown name": lambda t, a, h: ["reproduce", "mehta-fig9", "-o", str(t / "out")],
    "reproduce: --data missing": lambda t, a, h: ["reproduce", "mehta-fly", "--data", str(t / "none"), "-o",
                                                  str(t / "out")],
    "reproduce: --data an empty folder": lambda t, a, h: ((t / "flies").mkdir(), [
        "reproduce", "mehta-fly", "--quick", "--quiet", "--data", str(t / "flies"), "-o", str(t / "out")])[1],
    "reproduce: --data a file": lambda t, a, h: ((t / "flies").write_text("x"), [
        "reproduce", "mehta-fly", "--quick", "--quiet", "--data", str(t / "flies"), "-o", str(t / "out")])[1],
    "reproduce: --data inside the output, --force": _with_run(lambda t, a, h: (
        (t / "run" / "flies").mkdir(), (t / "run" / "flies" / "f.mat").write_bytes(b"x"),
        _add_to_manifest(t / "run", "flies/f.mat"),
        ["reproduce", "mehta-fly", "--quick", "--data", str(t / "run" / "flies"), "-o", str(t / "run"), "--force"])[3]),
    "reproduce: --force on the working folder": lambda t, a, h: ((t / "notes.txt").write_text("mine"), [
        "reproduce", "mehta-fig2", "--quick", "-o", ".", "--force"])[1],
    "reproduce: option it does not take": lambda t, a, h: ["reproduce", "mehta-fig2", "--data", str(t), "-o",
                                                           str(t / "out")],
    "reproduce: --workers 0": lambda t, a, h: ["reproduce", "nayebi-fig2", "--workers", "0", "-o", str(t / "out")],
    "reproduce: population inside output": lambda t, a, h: [
        "reproduce", "nayebi-fig2", "--population", str(t / "out" / "pop"), "-o", str(t / "out")],
    "reproduce: output exists": _with_run(lambda t, a, h: ["reproduce", "mehta-fig2", "--quick", "-o", str(t / "run")]),
}
CASES.update(RUN_CASES)


@pytest.fixture(scope="module")
def finished(tmp_path_factory, arrays):
    """A finished 2-epoch run of FIT, for the run-folder cases."""
    tmp = tmp_path_factory.mktemp("finished")
    _npz(tmp / "d.npz", *arrays)
    _toml(tmp / "cfg.toml", FIT)
    assert main(_fit_argv(tmp)) == 0
    FINISHED.update(run=tmp / "run", data=tmp / "d.npz")
    return FINISHED


def _snapshot(folder: Path) -> dict[str, tuple]:
    out = {}
    for p in sorted(folder.rglob("*")):
        st = p.lstat()
        out[str(p.relative_to(folder))] = ("dir",) if p.is_dir() else (st.st_size, st.st_mtime_ns)
    return out


def test_corpus_is_large_enough():
    assert len(CASES) >= 180


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_clean_line_and_touches_nothing(name, tmp_path, arrays, capsys, monkeypatch, finished):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    argv = CASES[name](work, *arrays)
    before = _snapshot(tmp_path)
    capsys.readouterr()
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2, f"{name}: exit {rc}, stderr {err!r}"
    assert len(lines) == 1 and lines[0].startswith("plastinfer: error: "), f"{name}: {err!r}"
    assert "Traceback" not in err
    assert _snapshot(tmp_path) == before, f"{name}: files were created, deleted or modified"
