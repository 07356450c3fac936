"""The optimizer update stays a packed, unmasked float32 loop: checked in the machine code.

No timed assertions here (perf/update.py times it): the code generation is what can regress
silently, and it is the same on every machine that compiles for the same target. Each
target compiles in its own process, because Numba fixes its target processor at start-up:

* this machine's own processor (AVX-512 where it has it);
* AVX2 without AVX-512, as on AMD Zen 3 and older, where a masked store is ``vmaskmovps``.

Before the flush was written as arithmetic, the update's subnormal flush compiled into
masked stores of the moments, which tripled Adam's update on an AMD EPYC. Now the update the
step loop runs (``Optimizer.apply``) leaves the flush to the hardware on x86-64 (FTZ and
DAZ): its loops must compare nothing; the version with its own flush
(``Optimizer.apply_flushed``, the update where there is no MXCSR) is checked as well.
"""

import json
import subprocess
import sys

import pytest

import optimizers
from tests.conftest import ROOT

#: AVX2 and FMA without any AVX-512 subset: what LLVM gets on an AMD Zen 3 processor.
AVX2_TARGET = {
    "NUMBA_CPU_NAME": "haswell",
    "NUMBA_CPU_FEATURES": "+64bit,+avx,+avx2,+bmi,+bmi2,+cmov,+cx16,+cx8,+f16c,+fma,+fxsr,"
    "+lzcnt,+mmx,+movbe,+popcnt,+sse,+sse2,+sse3,+sse4.1,+sse4.2,+ssse3,+xsave,-avx512f",
}

#: Compiles every optimizer's float32 update and reports its vector loops (run in a child).
_REPORT = """
import json
import numpy as np
import optimizers
from tests import machine_code as mc

REGISTERS = ("zmm", "ymm", "xmm")
hyper = dict(learning_rate=1e-3, momentum=0.9, beta=0.9, beta1=0.9, beta2=0.999, epsilon=1e-8)
report = {}
for name, opt in optimizers.REGISTRY.items():
    state = opt.init(64, np.float32, hyper)
    opt.step(np.zeros(64, np.float32), np.zeros(64, np.float32), state)
    # apply is what the step loop calls per layer, its loops with and without weight decay;
    # on x86-64 it leaves the flush to the hardware, apply_flushed flushes each value itself
    opt.apply_flushed(np.zeros(64, np.float32), np.zeros(64, np.float32), state.slots,
                      opt.coefficients_cpu(state.hyper, state.scalars, 1.0), 0, 64, 0.0)
    (plain_asm,) = opt.apply.inspect_asm().values()
    (flushing_asm,) = opt.apply_flushed.inspect_asm().values()
    plain, flushing = mc.vector_loops(plain_asm), mc.vector_loops(flushing_asm)
    loops = plain + flushing

    def widest(bodies):
        if not bodies:
            return []
        return min(bodies, key=lambda b: min(i for i, r in enumerate(REGISTERS) if r in str(b)))

    report[name] = dict(
        n_flushing=len(flushing),
        n_plain=len(plain),
        compares_in_plain=[line for body in plain for line in mc.compares(body)],
        compares_in_flushing=sum(len(mc.compares(body)) for body in flushing),
        masked=[line for body in loops for line in mc.masked_stores(body)],
        flushing=widest(flushing),
        plain=widest(plain),
    )
print(json.dumps(report))
"""


def _report(target_env):
    import os

    env = dict(os.environ, **target_env)
    result = subprocess.run(
        [sys.executable, "-c", _REPORT], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


@pytest.fixture(scope="module", params=["this processor", "AVX2"])
def report(request):
    return _report({} if request.param == "this processor" else AVX2_TARGET)


#: Rules that take a square root and divide per element.
SQRT_RULES = {"rmsprop", "adam", "nadam", "eve"}


@pytest.mark.parametrize("name", list(optimizers.REGISTRY))
@pytest.mark.parametrize("flush", ["flushing", "plain"])
def test_update_is_a_packed_loop_without_masked_stores(report, name, flush):
    """Both versions of the update (flushing each stored value itself, and leaving it to
    FTZ/DAZ) are packed float32 loops, with and without weight decay."""
    found = report[name]
    assert found[f"n_{flush}"] >= 2, f"{name}: the {flush} update's two loops did not vectorise"
    assert found["masked"] == [], f"{name}: masked stores in the update: {found['masked']}"
    widest = found[flush]
    assert not any("ymm" in line or "zmm" in line for line in widest if "pd" in line.split()[0])
    assert not any(line.split()[0].startswith("vcvtps2pd") for line in widest), (
        f"{name}: float64 arithmetic in a float32 loop"
    )
    if name in SQRT_RULES:
        mnemonics = {line.split()[0] for line in widest}
        assert {"vsqrtps", "vdivps"} <= mnemonics, f"{name}: {sorted(mnemonics)}"


@pytest.mark.parametrize("name", list(optimizers.REGISTRY))
def test_the_update_the_step_loop_runs_has_no_flush_of_its_own(report, name):
    """On x86-64 the hardware flushes: apply's loops compare nothing (the own flush is a
    packed comparison per stored value, which apply_flushed's loops have)."""
    found = report[name]
    assert found["compares_in_plain"] == [], f"{name}: {found['compares_in_plain']}"
    assert found["compares_in_flushing"] > 0, name
