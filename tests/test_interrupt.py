"""Ctrl-C and ``kill -9`` in the middle of ``plastinfer fit``: the staged run keeps its
checkpoint, ``--resume`` continues it, and the result equals an uninterrupted run."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
import tomli_w

from plastinfer.circuits import PlasticLayer
from plastinfer.cli import main
from plastinfer.data import simulate
from plastinfer.rules import oja
from plastinfer.runs import load_rule

CFG = {"circuit": {"kind": "plastic_layer", "n_in": 3, "n_out": 2, "nonlinearity": "linear", "eta": 0.05},
       "model": {"family": "taylor", "order": 1},
       "fit": {"epochs": 4000, "n_test": 1, "init_weights": "true", "learning_rate": 3e-3, "select_every": 10,
               "solver": "adam"}}


def _step(path) -> int:
    try:
        with np.load(path) as npz:
            return int(npz["step"])
    except (OSError, ValueError, KeyError):
        return -1


def _wait_for(cond, proc, timeout=120.0):
    t0 = time.time()
    while not cond():
        if proc.poll() is not None:
            pytest.fail(f"the fit ended (exit {proc.returncode}) before it could be interrupted: "
                        f"{proc.stderr.read().decode()}")
        if time.time() - t0 > timeout:
            proc.kill()
            pytest.fail("no checkpoint appeared")
        time.sleep(0.05)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_then_kill_then_resume_equals_an_uninterrupted_run(tmp_path):
    simulate(jax.random.PRNGKey(0), PlasticLayer(3, 2, "linear", eta=0.05), oja(), 4, 6).save(tmp_path / "d.npz")
    (tmp_path / "cfg.toml").write_text(tomli_w.dumps(CFG))
    run, stage = tmp_path / "run", tmp_path / ".run.partial"
    argv = [sys.executable, "-m", "plastinfer.cli", "fit", str(tmp_path / "cfg.toml"), "--data",
            str(tmp_path / "d.npz"), "-o", str(run), "--quiet"]

    # 1. Ctrl-C: a checkpoint is written, exit 130 with one line, the stage is kept, no run folder yet
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for(lambda: _step(stage / "checkpoint.npz") >= 20, p)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    lines = [ln for ln in err.decode().splitlines() if ln.strip()]
    assert p.returncode == 130, err.decode()
    assert len(lines) == 1 and lines[0].startswith("plastinfer: interrupted at step") and "--resume" in lines[0]
    first = _step(stage / "checkpoint.npz")
    assert 20 <= first < 4000 and not run.exists()

    # 2. kill -9 while resuming: the last periodic checkpoint survives
    p = subprocess.Popen(argv + ["--resume"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for(lambda: _step(stage / "checkpoint.npz") > first + 20, p)
    p.kill()
    p.wait(timeout=60)
    assert _step(stage / "checkpoint.npz") > first and not run.exists()

    # 3. resume to the end: the run folder appears, the stage is gone
    done = subprocess.run(argv + ["--resume"], capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr.decode()
    assert (run / "rule.npz").exists() and not stage.exists()

    # the same fit, never interrupted
    assert main([*argv[3:-3], "-o", str(tmp_path / "straight"), "--quiet"]) == 0
    a = load_rule(run / "rule.npz").theta
    b = load_rule(tmp_path / "straight" / "rule.npz").theta
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-6)
