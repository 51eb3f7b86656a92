import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# LLVM's optimisation level 0 for the tests' XLA programs: the suite's time is mostly XLA
# compiling small programs (a profiled smoke run: 32 of 58 s in backend_compile), not
# running them; level 0 compiles them ~20 % faster (measured on three of the slowest files,
# 140 → 110 s) and changes no result beyond float rounding
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1 --xla_backend_optimization_level=0")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", False)

import gc  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Free each module's compiled XLA programs when it ends. Every CPU executable holds a few
    memory maps; the whole suite compiles thousands of programs, and a process past the
    kernel's ``vm.max_map_count`` (65,530 here) crashes inside the compiler (seen as a
    segmentation fault in ``backend_compile_and_load`` late in the suite)."""
    yield
    jax.clear_caches()
    gc.collect()
