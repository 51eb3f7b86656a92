"""The ``plastinfer`` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import PlastinferInputError

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (``plastinfer: error: …``) and exit status 2."""

    def error(self, message: str):
        print(f"plastinfer: error: {' '.join(message.split())} (see plastinfer {self.prog.split()[-1]} --help)"
              if " " in self.prog else f"plastinfer: error: {' '.join(message.split())} (see plastinfer --help)",
              file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="plastinfer", description="Infer synaptic plasticity rules (JAX).")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

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
    f.add_argument("--uncertainty", choices=["laplace", "nuts"],
                   help="also take the fit's posterior (laplace: seconds; nuts: minutes) into RUN/posterior/")

    q = sub.add_parser("posterior", help="how much to believe a fitted rule: posterior of a fit's run folder")
    q.add_argument("run", type=Path, help="run folder written by 'plastinfer fit'")
    q.add_argument("--method", choices=["laplace", "nuts"], default="laplace",
                   help="laplace (Gaussian at the mode; default) or nuts (MCMC samples)")
    q.add_argument("--data", type=Path, help="the data file, when it moved since the fit")
    q.add_argument("-o", "--output", type=Path, help="folder to write (default RUN/posterior-METHOD)")
    q.add_argument("--force", action="store_true", help="replace an earlier posterior folder")
    q.add_argument("--prior", choices=["gaussian", "laplace", "flat"],
                   help="prior on every coefficient (default: flat for laplace, gaussian for nuts)")
    q.add_argument("--prior-scale", type=float, help="the prior's scale (default 10 for nuts)")
    q.add_argument("--chains", type=int, help="nuts: chains (default 4)")
    q.add_argument("--draws", type=int, help="nuts: draws per chain (default 1000)")
    q.add_argument("--warmup", type=int, help="nuts: adaptation steps per chain (default 300)")
    q.add_argument("--dense-mass", action="store_true",
                   help="nuts: adapt a dense mass matrix on top of the Laplace whitening (curved posteriors, e.g. "
                        "choice fits; slower warmup)")
    q.add_argument("--target-accept", type=float,
                   help="nuts: acceptance target of the adaptation (default 0.8; raise to 0.95 on divergences)")
    q.add_argument("--seed", type=int, default=0, help="nuts: random seed")
    q.add_argument("--quiet", action="store_true", help="no progress bar")

    c = sub.add_parser("compare", help="fit plasticity rules and reinforcement-learning baselines to choice data, "
                                       "per subject, and compare them on held-out choices")
    c.add_argument("--data", type=Path, nargs="+", required=True,
                   help="tidy tables (.csv/.parquet), NWB files (one session each), folders of them, or a folder of "
                        "fly folders")
    c.add_argument("-o", "--output", type=Path, required=True, help="folder to write")
    c.add_argument("--columns", help="column map: a preset (tidy, aind-foraging, ibl), a JSON object or a .json file")
    c.add_argument("--readout", choices=["bandit", "two_alternative"], help="default: bandit (fly folders: two_alternative)")
    c.add_argument("--n-arms", type=int, help="arms per trial (default: from the data)")
    c.add_argument("--models", help="comma-separated model names (default: every baseline and 'plasticity')")
    c.add_argument("--split", default="within:0.8",
                   help="held-out trials: within:F (each subject's last 1−F of trials) or sessions:K (leave-sessions-"
                        "out, K folds); default within:0.8")
    c.add_argument("--sessions", choices=["reset", "carry", "both"], default="reset",
                   help="model state at a session start: reset (default), carried over, or both (every model "
                        "fitted and compared both ways)")
    c.add_argument("--starts", type=int, default=3, help="starts per model (the best per subject is kept)")
    c.add_argument("--steps", type=int, default=150, help="L-BFGS iterations per start")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--l1", type=float, default=0.0,
                   help="L1 penalty on the plasticity models' rule coefficients (e.g. 5: keeps a flexible rule from "
                        "running away on held-out sessions; default 0, maximum likelihood)")
    c.add_argument("--force", action="store_true", help="replace an existing comparison folder")
    c.add_argument("--quiet", action="store_true", help="no progress")

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


def _cmd_simulate(args) -> int:
    from .config import load_config
    from .runs import simulate_from_config

    simulate_from_config(load_config(args.config), args.output, force=args.force, source=str(args.config))
    return 0


def _cmd_fit(args) -> int:
    from .config import load_config
    from .runs import print_fit, run_fit

    cfg = load_config(args.config)
    result, figures = run_fit(cfg, args.data, args.output, force=args.force, resume=args.resume,
                              epochs=args.epochs, progress=not args.quiet, inputs=(args.config,),
                              uncertainty=args.uncertainty)
    print_fit(result, figures, args.output)
    if args.uncertainty:
        from .runs import print_posterior

        print_posterior(result.extras["posterior"], args.output / "posterior")
    return 0


def _cmd_posterior(args) -> int:
    import math

    from .runs import print_posterior, run_posterior

    options = {}
    for name in ("chains", "draws", "warmup"):
        v = getattr(args, name)
        if v is not None:
            if args.method != "nuts":
                raise PlastinferInputError(f"--{name} is a NUTS option; add --method nuts")
            if v < (1 if name == "chains" else 10):
                raise PlastinferInputError(f"--{name} must be at least {1 if name == 'chains' else 10}, not {v}")
            options[name] = v
    if args.dense_mass or args.target_accept is not None:
        if args.method != "nuts":
            raise PlastinferInputError("--dense-mass and --target-accept are NUTS options; add --method nuts")
        if args.dense_mass:
            options["dense_mass"] = True
        if args.target_accept is not None:
            if not 0.5 <= args.target_accept < 1:
                raise PlastinferInputError(f"--target-accept must be in [0.5, 1), not {args.target_accept}")
            options["target_accept"] = args.target_accept
    if args.prior is not None:
        options["prior"] = args.prior
    if args.prior_scale is not None:
        if not (math.isfinite(args.prior_scale) and args.prior_scale > 0):
            raise PlastinferInputError(f"--prior-scale must be a finite number > 0, not {args.prior_scale}")
        options["prior_scale"] = args.prior_scale
        if args.prior is None and args.method == "laplace":
            options["prior"] = "gaussian"
    if args.prior in ("gaussian", "laplace") and args.method == "laplace" and args.prior_scale is None:
        raise PlastinferInputError(f"--prior {args.prior} needs --prior-scale")
    if args.method == "nuts":
        import jax

        options["key"] = jax.random.PRNGKey(args.seed)
    post, out, figures = run_posterior(args.run, method=args.method, out=args.output, force=args.force,
                                       data_path=args.data, progress=not args.quiet, **options)
    print_posterior(post, out)
    return 0


def _cmd_compare(args) -> int:
    from .runs import print_compare, run_compare

    comp, figures = run_compare(args.data, args.output, columns=args.columns, readout=args.readout,
                                n_arms=args.n_arms, models=args.models, split=args.split, sessions=args.sessions,
                                starts=args.starts, steps=args.steps, seed=args.seed, force=args.force,
                                progress=not args.quiet, l1=args.l1)
    print_compare(comp, figures, args.output)
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
    if "population" in options and out.resolve() in (options["population"].resolve(),
                                                     *options["population"].resolve().parents):
        raise PlastinferInputError(f"--population {options['population']} lies inside {out}, which the "
                                   "reproduction writes; keep the population outside the output folder")
    from .runs import RunFolder

    folder = RunFolder(out, force=args.force, inputs=(options.get("data"), options.get("population")))
    with folder as stage:
        exp.run(stage, quick=args.quick, progress=not args.quiet, **options)
    print(f"output: {folder.path}")
    return 0


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as stop:  # usage errors (already printed) and --help
        return int(stop.code or 0)
    handlers = {"simulate": _cmd_simulate, "fit": _cmd_fit, "demo": _cmd_demo, "reproduce": _cmd_reproduce,
                "posterior": _cmd_posterior, "compare": _cmd_compare}
    try:
        return handlers[args.command](args)
    except (PlastinferInputError, FileExistsError) as err:
        print(f"plastinfer: error: {_one_line(err)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as err:  # the file system refused (disk full, permissions, a path that vanished)
        where = f"{err.filename}: " if getattr(err, "filename", None) else ""
        print(f"plastinfer: error: {where}{err.strerror or err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as err:
        note = _one_line(err) if str(err) else "interrupted"
        print(f"plastinfer: {note}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
