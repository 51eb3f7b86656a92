"""The spiking benchmark's model in Brian2, for comparison (run by benchmarks/spiking.py in
an interpreter that has Brian2; Brian2 2.9 needs numpy < 2.4). Same neuron, inputs with
the same group rates (a 5 Hz baseline plus rectified bumps, generated here with numpy),
Vogels iSTDP on the inhibitory synapses, dt = 0.1 ms. Prints one JSON line.

    python benchmarks/_brian_lif.py SECONDS [numpy|cython] [SEED]
"""

import json
import sys
import time

import numpy as np


def main() -> None:
    seconds = float(sys.argv[1])
    target = sys.argv[2] if len(sys.argv) > 2 else "numpy"
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    import brian2 as b2

    b2.seed(seed)
    b2.prefs.codegen.target = target
    b2.defaultclock.dt = 0.1 * b2.ms
    rng = np.random.default_rng(seed)
    n_groups, n_e, n_i = 8, 100, 25
    # group rates on a 1 ms grid: twice low-pass filtered noise (τ 50 ms), rectified, every second bump kept
    steps = int(seconds * 1000)
    a = np.exp(-1e-3 / 0.05)
    u = np.zeros(n_groups)
    s = np.zeros(n_groups)
    keep = rng.random(n_groups) < 0.5
    was = np.zeros(n_groups, bool)
    rates = np.empty((steps, n_groups))
    std = np.sqrt((1 - a) ** 2 * (1 + a * a) / (1 - a * a) ** 2)
    for step in range(steps):
        u = a * u + np.sqrt(1 - a * a) * rng.standard_normal(n_groups)
        s = a * s + (1 - a) * u
        pos = s > 0
        keep = np.where(pos & ~was, ~keep, keep)
        was = pos
        rates[step] = 5.0 + 30.0 * s * pos * keep / std
    group_rates = b2.TimedArray(rates * b2.Hz, dt=1 * b2.ms)

    eqs = """
    dv/dt = (-(v - v_rest) - ge * (v - e_e) - gi * (v - e_i)) / tau_m : volt (unless refractory)
    dge/dt = -ge / tau_e : 1
    dgi/dt = -gi / tau_i : 1
    dxpost/dt = -xpost / tau_stdp : 1
    """
    ns = dict(v_rest=-60 * b2.mV, e_e=0 * b2.mV, e_i=-80 * b2.mV, tau_m=20 * b2.ms, tau_e=5 * b2.ms,
              tau_i=10 * b2.ms, tau_stdp=20 * b2.ms, group_rates=group_rates, eta=1e-2, alpha_v=0.2)
    neuron = b2.NeuronGroup(1, eqs, threshold="v > -50*mV", reset="v = -60*mV; xpost += 1", refractory=5 * b2.ms,
                            method="exponential_euler", namespace=ns)
    neuron.v = -60 * b2.mV
    pe = b2.PoissonGroup(n_groups * n_e, rates="group_rates(t, i // 100)", namespace=ns)
    pi = b2.PoissonGroup(n_groups * n_i, rates="group_rates(t, i // 25)", namespace=ns)
    se = b2.Synapses(pe, neuron, "w : 1", on_pre="ge_post += 0.014 * w", namespace={})
    se.connect()
    g = np.repeat(np.arange(1, n_groups + 1), n_e)
    se.w = 0.3 + 1.1 / (1 + (g - 5.0) ** 4) + 0.1 * rng.random(n_groups * n_e)
    si = b2.Synapses(pi, neuron, """w : 1
                                    dxpre/dt = -xpre / tau_stdp : 1 (event-driven)""",
                     on_pre="""gi_post += 0.035 * w
                               w = clip(w + eta * (xpost_post - alpha_v), 0, 50)
                               xpre += 1""",
                     on_post="w = clip(w + eta * xpre, 0, 50)", namespace=ns)
    si.connect()
    si.w = 0.1 * rng.random(n_groups * n_i)
    spikes = b2.SpikeMonitor(neuron)
    net = b2.Network(neuron, pe, pi, se, si, spikes)
    net.run(10 * b2.ms, namespace={})  # code generation and compilation outside the timing
    t0 = time.perf_counter()
    net.run(seconds * b2.second, namespace={})
    wall = time.perf_counter() - t0
    last = np.asarray(spikes.t / b2.second)
    half = seconds / 2
    rate_last = float(np.sum(last > half) / half)
    print(json.dumps({"simulator": f"brian2 {b2.__version__} ({target})", "seconds_simulated": seconds,
                      "wall_s": wall, "sim_s_per_wall_s": seconds / wall, "rate_second_half_hz": rate_last}))


if __name__ == "__main__":
    main()
