"""The ``plastinfer`` command."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ._errors import PlastinferInputError

EXIT_BAD_INPUT = 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="plastinfer", description="Infer synaptic plasticity rules (JAX).")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("simulate", help="simulate a plastic circuit with a known rule and save the data set")
    s.add_argument("config", type=Path, help="TOML config with [circuit], [rule] and [data]")
    s.add_argument("-o", "--output", type=Path, required=True, help="data set to write (.npz)")
    s.add_argument("--force", action="store_true", help="overwrite an existing output file")

    f = sub.add_parser("fit", help="fit a rule to a data set by gradients through trajectories")
    f.add_argument("config", type=Path, help="TOML config with [model] and [fit] (and optionally [circuit])")
    f.add_argument("--data", type=Path, required=True, help="data set (.npz) from 'simulate' or an importer")
    f.add_argument("-o", "--output", type=Path, required=True, help="run folder to write")
    g = f.add_mutually_exclusive_group()
    g.add_argument("--force", action="store_true", help="replace an existing run folder")
    g.add_argument("--resume", action="store_true", help="continue the run in the output folder")
    f.add_argument("--epochs", type=int, help="override [fit] epochs (with --resume: the new total)")
    f.add_argument("--quiet", action="store_true", help="no progress bar")

    d = sub.add_parser("demo", help="simulate Oja data, fit a Taylor rule to it, print the equation")
    d.add_argument("-o", "--output", type=Path, default=Path("plastinfer-demo"), help="run folder (default ./plastinfer-demo)")
    d.add_argument("--force", action="store_true", help="replace an existing demo folder")

    r = sub.add_parser("reproduce", help="reproduce a paper figure or table")
    r.add_argument("name", nargs="?", help="reproduction name (see --list)")
    r.add_argument("--list", action="store_true", help="list the reproductions")
    r.add_argument("--quick", action="store_true", help="reduced version that runs in minutes on 2 cores")
    r.add_argument("-o", "--output", type=Path, help="output folder")
    r.add_argument("--force", action="store_true", help="replace an existing output folder")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.add_argument("--data", type=Path, help="data folder (mehta-fly: a folder of per-fly folders)")
    r.add_argument("--all", action="store_true", help="mehta-table1: all 53 rules of Table 3")
    r.add_argument("--population", type=Path,
                   help="nayebi-fig2/3/4: population folder to create, resume or reuse (shared between runs)")
    r.add_argument("--workers", type=int, help="nayebi-*: worker processes that train the population (default 2)")
    r.add_argument("--ray", metavar="ADDRESS", help="nayebi-*: train the population on this Ray cluster "
                   "(pip install 'plastinfer[ray]')")
    return p


def simulate_from_config(cfg: dict, output: Path, *, force: bool = False, source: str = "config") -> None:
    """Shared by ``simulate`` and ``demo``: build circuit and rule, simulate, save."""
    import jax

    from .circuits import circuit_from_spec
    from .config import data_settings
    from .data import simulate
    from .rules import rule_from_spec

    for table in ("circuit", "rule"):
        if table not in cfg:
            raise PlastinferInputError(f"{source}: missing table [{table}]")
    if output.exists() and not force:
        raise PlastinferInputError(f"{output} exists; pass --force to overwrite it")
    circuit = circuit_from_spec(cfg["circuit"])
    rule = rule_from_spec(cfg["rule"])
    ds = data_settings(cfg)
    t0 = time.perf_counter()
    data = simulate(
        jax.random.PRNGKey(ds["seed"]),
        circuit,
        rule,
        ds["n_trajectories"],
        ds["n_steps"],
        input_std=ds["input_std"],
        samples_per_step=ds["samples_per_step"],
        noise_std=ds["noise_std"],
        fraction_recorded=ds["fraction_recorded"],
    )
    data.save(output, force=force)
    print(
        f"simulated {data.n_trajectories} trajectories × {data.n_steps} steps, {data.n_units}/{data.n_out} units "
        f"recorded, rule {rule.equation()} ({time.perf_counter() - t0:.1f} s) → {output}"
    )


def _cmd_simulate(args) -> int:
    from .config import load_config

    simulate_from_config(load_config(args.config), args.output, force=args.force, source=str(args.config))
    return 0


def run_fit(cfg: dict, data_path: Path, out: Path, *, force=False, resume=False, epochs=None, progress=True):
    """Shared by ``fit`` and ``demo``: load, split, fit, write the run folder."""
    import dataclasses

    import jax

    from .circuits import circuit_from_spec
    from .config import fit_settings
    from .data import Dataset
    from .infer import fit_trajectory
    from .infer._run import prepare_run_dir, read_checkpoint, write_run
    from .rules import rule_from_spec

    data = Dataset.load(data_path)
    circuit_spec = cfg.get("circuit") or data.meta.get("circuit")
    if not circuit_spec:
        raise PlastinferInputError("fit: no [circuit] table in the config and none recorded in the data set")
    circuit = circuit_from_spec(circuit_spec)
    fit_cfg, n_test = fit_settings(cfg)
    if epochs is not None:
        fit_cfg = dataclasses.replace(fit_cfg, epochs=int(epochs))
    model_spec = cfg.get("model", {"family": "taylor"})
    rule0 = rule_from_spec(model_spec, key=jax.random.PRNGKey(fit_cfg.seed + 1))
    run_dir = prepare_run_dir(out, force=force, resume=resume)
    train, test = data.split(n_test) if n_test > 0 else (data, None)
    resume_state = read_checkpoint(run_dir) if resume else None
    result = fit_trajectory(rule0, circuit, train, config=fit_cfg, test=test, progress=progress, resume_state=resume_state)
    full_cfg = {**cfg, "circuit": circuit.config(), "model": model_spec,
                "fit": {**dataclasses.asdict(fit_cfg), "n_test": n_test},
                "run": {"data_file": str(data_path), "resumed": bool(resume)}}
    figures = write_run(run_dir, result, full_cfg)
    return result, figures


def _print_fit(result, figures, out: Path) -> None:
    m = result.metrics
    print(f"fitted rule (terms with |θ| ≥ 0.05): {result.rule.equation(threshold=0.05)}")
    parts = [f"final loss {m['final_loss']:.3g}" if m.get("final_loss") is not None else None]
    for k in ("test_r2_weights", "test_r2_activity"):
        if m.get(k) is not None:
            parts.append(f"{k.removeprefix('test_')} (held out) {m[k]:.3f}")
    print("; ".join(p for p in parts if p))
    if m.get("diverged_updates"):
        print(f"warning: {m['diverged_updates']} updates diverged and were skipped")
    print(f"run folder: {out}  (figures: {', '.join(p.name for p in figures)})")


def _cmd_fit(args) -> int:
    from .config import load_config

    cfg = load_config(args.config)
    result, figures = run_fit(cfg, args.data, args.output, force=args.force, resume=args.resume,
                              epochs=args.epochs, progress=not args.quiet)
    _print_fit(result, figures, args.output)
    return 0


def _cmd_demo(args) -> int:
    from .demo import run_demo

    run_demo(args.output, force=args.force)
    return 0


def _cmd_reproduce(args) -> int:
    from .experiments import get_experiment, list_experiments

    if args.list or not args.name:
        for e in list_experiments():
            print(f"{e.name:16s} {e.paper}: {e.description}")
        return 0
    exp = get_experiment(args.name)
    options = {k: v for k, v in (("data", args.data), ("all", args.all), ("population", args.population),
                                 ("workers", args.workers), ("ray", args.ray)) if v is not None and v is not False}
    unknown = sorted(set(options) - set(exp.options))
    if unknown:
        raise PlastinferInputError(f"reproduction {exp.name!r} takes no --{unknown[0]} option")
    if "data" in options and not Path(options["data"]).exists():
        raise PlastinferInputError(f"{options['data']}: no such folder")
    if "population" in options and options["population"].exists() and not options["population"].is_dir():
        raise PlastinferInputError(f"{options['population']} exists and is not a folder")
    if "workers" in options and options["workers"] < 1:
        raise PlastinferInputError(f"--workers must be at least 1, not {options['workers']}")
    out = args.output or Path(f"reproduce-{exp.name}{'-quick' if args.quick else ''}")
    if args.force and "population" in options and out.resolve() in (options["population"].resolve(),
                                                                    *options["population"].resolve().parents):
        raise PlastinferInputError(f"--population {options['population']} lies inside {out}, which --force would "
                                   "replace; keep the population outside the output folder")
    from .infer._run import prepare_run_dir

    prepare_run_dir(out, force=args.force)
    exp.run(out, quick=args.quick, progress=not args.quiet, **options)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handlers = {"simulate": _cmd_simulate, "fit": _cmd_fit, "demo": _cmd_demo, "reproduce": _cmd_reproduce}
    try:
        return handlers[args.command](args)
    except (PlastinferInputError, FileExistsError) as err:
        print(f"plastinfer: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("plastinfer: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
