"""``create_backbone``: a named variant, plus any override, validated before anything is built.

It is the ``_target_`` of the ``model.backbone`` config node (``_partial_``: the task module
adds ``num_classes``), so every key of that node is one of its arguments.
"""

from __future__ import annotations

import difflib
import inspect
import typing
from collections.abc import Callable
from functools import lru_cache
from typing import Annotated, Any

from src.models.backbones.complexity import count_macs
from src.models.backbones.norm import NORM_LAYERS
from src.models.backbones.pretrained import load_pretrained
from src.models.backbones.resnest import DILATION_SCHEME, STAGE_PLANES, ResNeSt, group_width
from src.models.backbones.split_attention import attention_width
from src.models.backbones.variants import VARIANTS
from src.utils.config_types import AtLeast, Supplies, annotated_bounds, forwards_keywords_to

# ``model.backbone``: ``create_backbone`` partially applied by the config; the task module adds
# its class count (``model.num_classes`` for classification, 0 for a features-only backbone)
BackboneNode = Annotated[Callable[..., ResNeSt], Supplies("num_classes")]
WIDTH_POLICIES = ("fixed", "flops_matched")
ARCH_KEYS = tuple(
    name for name in inspect.signature(ResNeSt.__init__).parameters if name not in ("self",)
)
# The image size at which MACs are matched; FLOP tables use 224.
MATCH_IMAGE_SIZE = 224


def list_backbones() -> list[str]:
    """Every registered backbone name, sorted."""
    return sorted(VARIANTS)


@forwards_keywords_to(ResNeSt.__init__)
def create_backbone(
    name: str,
    *,
    pretrained: bool | str | None = None,
    weights_dir: str | None = None,
    output_stride: int = 32,
    width_policy: str = "fixed",
    **overrides: Any,
) -> ResNeSt:
    """Build the backbone ``name`` with ``overrides`` applied to its table row.

    ``pretrained``: None/False for random init; True for the released weights, looked for in
    ``weights_dir`` / ``$RESNEST_WEIGHTS_DIR``, the torch hub cache, the official release and the
    Hugging Face Hub (see :mod:`src.models.backbones.weights_sources`); ``"hf-hub:<repo>"``; or a
    local ``.pth`` / ``.safetensors`` file or a directory holding one. The built model keeps
    what it was loaded from, with the weights' evaluation protocol, in ``model.pretrained_cfg``.
    ``width_policy="flops_matched"`` replaces ``bottleneck_width`` by the width that keeps the
    backbone's MACs closest to the named variant's own setting, for fair radix x cardinality
    comparisons at equal compute (the paper's 64d / 40d / 24d ablation).
    Any other keyword is a ``ResNeSt`` argument replacing the table's value; None keeps it.
    Invalid settings raise ``ValueError`` naming the key before any layer is allocated.
    """
    overrides = {key: value for key, value in overrides.items() if value is not None}
    if name not in VARIANTS:
        close = difflib.get_close_matches(name, VARIANTS, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(
            f"model.backbone.name={name!r} is not a registered backbone.{hint} "
            f"Known: {', '.join(list_backbones())}."
        )
    unknown = sorted(set(overrides) - set(ARCH_KEYS))
    if unknown:
        raise ValueError(
            f"model.backbone has unknown key(s) {unknown}; allowed overrides: "
            f"{', '.join(k for k in ARCH_KEYS if k != 'output_stride')}, pretrained, "
            f"weights_dir, output_stride, width_policy."
        )
    arch = {**VARIANTS[name].arch, **overrides, "output_stride": output_stride}
    if width_policy not in WIDTH_POLICIES:
        raise ValueError(
            f"model.backbone.width_policy={width_policy!r} is not one of {list(WIDTH_POLICIES)}."
        )
    if width_policy == "flops_matched":
        arch["round_to_groups"] = True
        table = VARIANTS[name].arch
        reference = {**arch, "radix": table["radix"], "cardinality": table["cardinality"]}
        arch["bottleneck_width"] = flops_matched_width(arch, reference)
    validate_arch(arch)
    model = ResNeSt(**arch)
    if pretrained:
        model.pretrained_cfg = load_pretrained(model, name, pretrained, weights_dir)
    return model


def validate_arch(arch: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming the ``model.backbone`` key of the first invalid setting."""
    arch = {**_arch_defaults(), **arch}
    radix, cardinality, width = arch["radix"], arch["cardinality"], arch["bottleneck_width"]
    layers = tuple(arch["layers"])
    for key, bounds in _annotated_bounds().items():
        value = arch[key]
        if not _is_int(value) or not all(bound(value) for bound in bounds):
            rule = " and ".join(map(str, bounds))
            raise ValueError(f"model.backbone.{key}={value!r} must be an integer {rule}.")
    checks = [
        ("bottleneck_width", width >= 1, "must be >= 1"),
        ("layers", len(layers) == 4 and min(layers) >= 1, "must be four positive block counts"),
        ("dropblock_prob", 0.0 <= arch["dropblock_prob"] < 1.0, "must be in [0, 1)"),
        ("final_drop", 0.0 <= arch["final_drop"] < 1.0, "must be in [0, 1)"),
        ("output_stride", arch["output_stride"] in DILATION_SCHEME, "must be 8, 16 or 32"),
        ("norm_layer", arch["norm_layer"] in NORM_LAYERS, f"must be one of {list(NORM_LAYERS)}"),
    ]
    for key, ok, rule in checks:
        if not ok:
            raise ValueError(f"model.backbone.{key}={arch[key]!r} {rule}.")
    splits = cardinality * max(radix, 1)
    for planes in STAGE_PLANES:
        width_3x3 = group_width(
            planes, width, cardinality, radix, arch["reduction_factor"], arch["round_to_groups"]
        )
        if width_3x3 == 0 or width_3x3 % splits:
            raise ValueError(
                f"model.backbone: a stage of {planes} planes gets group width {width_3x3} "
                f"(bottleneck_width={width}, cardinality={cardinality}), which is not divisible "
                f"into radix x cardinality = {splits} groups; change model.backbone.radix, "
                f".cardinality or .bottleneck_width."
            )
        inter = attention_width(width_3x3, radix, arch["reduction_factor"])
        if radix >= 1 and inter % cardinality:
            raise ValueError(
                f"model.backbone: the attention bottleneck of {inter} channels is not divisible "
                f"by cardinality={cardinality}; change model.backbone.reduction_factor or "
                f".cardinality."
            )


@lru_cache(maxsize=1)
def _arch_defaults() -> dict[str, Any]:
    """``ResNeSt``'s own defaults, for the settings a variant's row leaves out."""
    parameters = inspect.signature(ResNeSt.__init__).parameters.values()
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}


@lru_cache(maxsize=1)
def _annotated_bounds() -> dict[str, list[AtLeast]]:
    """The integer ranges ``ResNeSt``'s signature annotates (``radix: NonNegativeInt``): the
    one place those rules are written."""
    hints = typing.get_type_hints(ResNeSt.__init__, include_extras=True)
    return {key: bounds for key, hint in hints.items() if (bounds := annotated_bounds(hint))}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def flops_matched_width(arch: dict[str, Any], reference: dict[str, Any]) -> int:
    """The bottleneck width giving ``arch`` the MACs closest to those of ``reference``.

    ``create_backbone`` passes as reference the same settings at the variant's own radix and
    cardinality (and the configured width): a radix x cardinality sweep then keeps the compute
    of the model it started from, whatever its other overrides (a small toy width included).

    Group widths are rounded to multiples of radix x cardinality (``round_to_groups``), so every
    integer width is buildable; MACs grow monotonically with it, so a bisection finds the best.
    """
    target = _macs(_key({**reference, "output_stride": 32}))
    probe = {**arch, "output_stride": 32, "round_to_groups": True}

    def macs(width: int) -> int:
        return _macs(_key({**probe, "bottleneck_width": width}))

    low, high = 1, 512
    while low < high:
        middle = (low + high) // 2
        if macs(middle) < target:
            low = middle + 1
        else:
            high = middle
    return min((max(low - 1, 1), low), key=lambda width: abs(macs(width) - target))


def _key(arch: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in arch.items()))


@lru_cache(maxsize=256)
def _macs(arch_key: tuple[tuple[str, Any], ...]) -> int:
    arch = dict(arch_key)
    return count_macs(lambda: ResNeSt(**arch), MATCH_IMAGE_SIZE, arch.get("in_chans", 3))
