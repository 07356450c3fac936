"""Read the x86-64 machine code Numba generates: the loops, and what their stores are.

Used by the tests that keep the hot element-wise loops at memory speed (the optimizer
update above all). A loop here is a basic block that jumps back to its own label, as LLVM
lays out an innermost vectorised loop; the vector body is the loop with packed float
arithmetic (``...ps``/``...pd`` on ``ymm``/``zmm``/``xmm`` registers).
"""

import re

#: A label line of LLVM's assembly, e.g. ``.LBB0_10:``.
_LABEL = re.compile(r"^(\.?L\w+):")
#: A store whose destination is memory and which is masked: AVX2's vmaskmov, or an AVX-512
#: move with a ``{%k}`` write mask (``vmovups %ymm1, (%rax) {%k1}``).
_MASKED_STORE = re.compile(r"\bvmaskmov\w*\b|\bvmov\w+\s+%[xyz]mm\d+,\s*[^%\s]*\(%[^)]*\)\s*\{%k")
_PACKED = re.compile(r"\bv(?:mul|add|sub|fmadd\d+|fnmadd\d+|fmsub\d+|fnmsub\d+|div|sqrt)p[sd]\b")


def loops(asm):
    """The instruction lines of every block of ``asm`` that ends by jumping to its own label."""
    found, label, body = [], None, []
    for line in asm.splitlines():
        text = line.split("#")[0].strip()
        match = _LABEL.match(text)
        if match:
            label, body = match.group(1), []
            continue
        if not text or text.startswith("."):
            continue
        body.append(text)
        if label and re.match(rf"j\w+\s+{re.escape(label)}$", text):
            found.append(body)
            label, body = None, []
    return found


def vector_loops(asm):
    """The loops of ``asm`` that compute with packed float instructions."""
    return [body for body in loops(asm) if any(_PACKED.search(line) for line in body)]


def masked_stores(body):
    """The lines of ``body`` that store to memory under a mask."""
    return [line for line in body if _MASKED_STORE.search(line)]


def compares(body):
    """The packed float comparisons of ``body`` (``vcmpps``, ``vcmpleps``, ...): what the
    optimizer update's own subnormal flush compiles to."""
    return [line for line in body if re.match(r"vcmp\w*p[sd]\b", line.split()[0])]


def uses(body, mnemonic):
    """True when a line of ``body`` has the instruction ``mnemonic`` (e.g. "vsqrtps")."""
    return any(line.split()[0] == mnemonic for line in body)
