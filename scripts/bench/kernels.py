"""Which kernels this process runs: ATen's CPU capability and whether bf16 has hardware.

A CPU without AVX512-BF16 or AMX runs bf16 by conversion to and from fp32 (slower than fp32,
and a 2048² bf16 matmul takes ~30 s on two such cores), so the benchmark skips its bf16 rows
there instead of timing an emulation. CPUID alone would be wrong under the variables that cap
the kernels of a process (``ATEN_CPU_CAPABILITY=avx2``, ``ONEDNN_MAX_CPU_ISA=AVX2``): torch's
``torch.cpu._is_avx512_bf16_supported()`` reads CPUID and ignores them, while oneDNN's own
answer (``torch.ops.mkldnn._is_mkldnn_bf16_supported()``) follows its ISA cap but is also true
on plain AVX-512, where oneDNN emulates bf16. So bf16 counts as native when CPUID has the
instructions, oneDNN (which runs the bf16 convolutions and matmuls) takes bf16 at all, and its
ISA cap, if set, is not below the first ISA with bf16 instructions.
"""

from __future__ import annotations

import os

import torch

# oneDNN's ISA-cap variables (the second is its older name) and the caps that leave out every
# bf16 instruction (oneDNN's names, case-insensitive); later ISAs all have bf16
ONEDNN_ISA_VARIABLES = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")
ISAS_WITHOUT_BF16 = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX512_CORE", "AVX512_CORE_VNNI")


def onednn_isa_cap() -> str | None:
    """The ISA cap this process set for oneDNN (e.g. ``AVX2``), or None."""
    for variable in ONEDNN_ISA_VARIABLES:
        if os.environ.get(variable):
            return os.environ[variable].upper()
    return None


def bf16_problem(device: torch.device) -> str | None:
    """None where bf16 runs on bf16 hardware on ``device``, else why not (a table note)."""
    if device.type != "cpu":
        return None
    if not (torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()):
        return "this CPU has neither AVX512-BF16 nor AMX (CPUID), so bf16 would be emulated"
    cap = onednn_isa_cap()
    if cap in ISAS_WITHOUT_BF16 or not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return f"oneDNN is capped at {cap or 'an ISA'} without bf16 instructions"
    return None


def kernel_facts() -> list[tuple[str, str]]:
    """(item, value) rows of the machine table: the kernels this process runs."""
    problem = bf16_problem(torch.device("cpu"))
    return [
        ("ATen CPU capability", torch.backends.cpu.get_cpu_capability()),
        ("oneDNN ISA cap", onednn_isa_cap() or "none (the CPU's best)"),
        ("bf16 hardware (AVX512-BF16 / AMX)", "yes" if problem is None else f"no: {problem}"),
    ]
