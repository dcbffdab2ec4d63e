"""Hand a trained run to the ecosystem: timm / the Hugging Face Hub, or ONNX.

    python -m scripts.export logs/train/runs/<id> exported/            # timm + Hub folder
    python -m scripts.export logs/train/runs/<id> exported/ --format onnx

The run is rebuilt from its ``config_resolved.yaml`` with the weights of its best checkpoint
(``checkpoints/epoch_*.ckpt``, else ``last.ckpt``; or name a ``.ckpt`` file).

``--format timm`` (classification runs) writes what a Hub repository of timm holds:
``model.safetensors`` (the backbone with timm's key names, which are this project's), a
``config.json`` with the timm architecture, its arguments where the run's backbone differs from
the named variant, and the evaluation settings (input size, crop, interpolation, mean/std), and a
``README.md`` model card (data, recipe, metrics, the run id). timm loads it with
``timm.create_model(<architecture>, pretrained=True, num_classes=N, **model_args,
pretrained_cfg_overlay=dict(**pretrained_cfg, file=".../model.safetensors"))`` (the
``pretrained_cfg`` of ``config.json``: its ``num_classes`` keeps timm from dropping the
classifier) and ``huggingface_hub`` uploads the folder as it is; this project loads it back with
``model.backbone.pretrained=<folder>`` (the weights; the evaluation settings are the data
config's).

``--format onnx`` writes ``model.onnx``: the classifier or the whole segmentor with BatchNorm
folded into the convolutions, in eval mode, with dynamic batch and image size (input ``image``:
normalised float32 NCHW; output ``logits``, for segmentation at the input's size). It needs the
``onnx`` package (the ``[export]`` extra).
"""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import yaml
from omegaconf import DictConfig, OmegaConf

if not __package__:  # run as a file, not as the module scripts.export: the root on sys.path
    import project_root  # noqa: F401  (scripts/project_root.py)

from src.data.eval_protocol import EvalProtocol, configured_eval_protocol
from src.models.backbones.variants import VARIANTS
from src.models.folding import fold_batchnorm
from src.pipeline import load_trained
from src.runs.identity import read_run_record
from src.tasks.task_module import TaskModule

FORMATS = ("timm", "onnx")
ONNX_OPSET = 17
# The project's backbone keys that are timm ResNet arguments under another name or the same.
TIMM_ARGUMENTS = {
    "stem_width": "stem_width",
    "bottleneck_width": "base_width",
    "cardinality": "cardinality",
    "layers": "layers",
}
# ... inside timm's block_args of a ResNeSt bottleneck (given whole when any one changes)
TIMM_BLOCK_ARGUMENTS = ("radix", "avd", "avd_first")
# Keys that change training only, not the exported network.
TRAINING_ONLY = ("pretrained", "weights_dir", "dropblock_prob", "zero_init_last", "final_drop")
# Keys of the backbone node that are not ResNeSt arguments, with the value an export needs.
REQUIRED = {"output_stride": 32, "width_policy": "fixed"}


def best_checkpoint(run_dir: Path) -> Path:
    """The run's best checkpoint (the newest ``epoch_*.ckpt``), else its ``last.ckpt``."""
    folder = run_dir / "checkpoints"
    best = sorted(folder.glob("epoch_*.ckpt"), key=lambda path: path.stat().st_mtime)
    chosen = best[-1] if best else folder / "last.ckpt"
    if not chosen.is_file():
        raise FileNotFoundError(f"{run_dir} has no checkpoint (looked in {folder})")
    return chosen


def timm_architecture(cfg: DictConfig) -> tuple[str, dict[str, Any]]:
    """timm's name for the run's backbone and the arguments that make it the run's network."""
    backbone = OmegaConf.to_container(cfg.model.backbone, resolve=True)
    name = backbone["name"]
    info = VARIANTS[name].pretrained
    if info is None or info.hf_hub_id is None:
        raise ValueError(f"backbone {name} has no timm architecture to export to")
    arguments: dict[str, Any] = {}
    blocks: dict[str, Any] = {}
    for key, value in backbone.items():
        if key.startswith("_") or key == "name" or value is None or key in TRAINING_ONLY:
            continue
        if key in REQUIRED:
            if value != REQUIRED[key]:
                raise ValueError(f"model.backbone.{key}={value}: timm builds {REQUIRED[key]} only")
        elif key in TIMM_ARGUMENTS:
            arguments[TIMM_ARGUMENTS[key]] = list(value) if key == "layers" else value
        elif key in TIMM_BLOCK_ARGUMENTS:
            blocks[key] = value
        else:
            raise ValueError(
                f"model.backbone.{key}={value} has no timm argument; export with --format onnx"
            )
    if blocks:
        row = VARIANTS[name].arch
        arguments["block_args"] = {
            key: blocks.get(key, row.get(key, False)) for key in TIMM_BLOCK_ARGUMENTS
        }
    return info.hf_hub_id.split("/")[1].split(".")[0], arguments


def timm_pretrained_cfg(protocol: EvalProtocol, num_classes: int) -> dict[str, Any]:
    """timm's evaluation settings: ``crop_pct`` is timm's (resize the short side to
    ``crop / crop_pct``, centre crop); a run evaluated with the official ECenterCrop keeps its
    rule in ``config.json``'s ``eval_protocol``."""
    return {
        "input_size": [3, protocol.crop, protocol.crop],
        "crop_pct": protocol.crop_pct,
        "crop_mode": "center",
        "interpolation": protocol.interpolation,
        "mean": list(protocol.mean),
        "std": list(protocol.std),
        "num_classes": num_classes,
    }


def export_timm(module: TaskModule, cfg: DictConfig, source: Path, out: Path) -> None:
    from safetensors.torch import save_file

    if cfg.model.get("decode_head") is not None:
        raise ValueError("--format timm exports classifiers; export a segmentor with --format onnx")
    architecture, arguments = timm_architecture(cfg)
    protocol = configured_eval_protocol(cfg.data)
    num_classes = int(cfg.model.num_classes)
    tensors = {key: value.contiguous() for key, value in module.backbone.state_dict().items()}
    save_file(tensors, out / "model.safetensors")
    run = _run_summary(source)
    config = {
        "architecture": architecture,
        "num_classes": num_classes,
        "model_args": arguments,
        "pretrained_cfg": timm_pretrained_cfg(protocol, num_classes),
        "eval_protocol": {
            **asdict(protocol),
            "mean": list(protocol.mean),
            "std": list(protocol.std),
        },
        "run": run,
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out / "README.md").write_text(_model_card(architecture, arguments, cfg, protocol, run))


def export_onnx(module: TaskModule, cfg: DictConfig, out: Path, image_size: int | None) -> None:
    size = image_size or int(cfg.data.get("crop_size") or configured_eval_protocol(cfg.data).crop)
    example = torch.randn(1, 3, size, size)
    network = fold_batchnorm(module.network.eval(), example)
    segmenting = cfg.model.get("decode_head") is not None  # logits at the input's size
    image_axes = {0: "batch", 2: "height", 3: "width"}
    torch.onnx.export(
        network,
        (example,),
        str(out / "model.onnx"),
        opset_version=ONNX_OPSET,
        input_names=["image"],
        output_names=["logits"],
        dynamic_axes={"image": image_axes, "logits": image_axes if segmenting else {0: "batch"}},
        dynamo=False,
    )


def _run_summary(checkpoint: Path) -> dict[str, Any]:
    """The run's id, the checkpoint exported and its last validation figures."""
    run_dir = checkpoint.parent.parent
    summary: dict[str, Any] = {
        "id": read_run_record(run_dir).get("id", run_dir.name),
        "checkpoint": checkpoint.name,
    }
    metrics_file = run_dir / "csv" / "metrics.csv"
    if metrics_file.is_file():
        rows = [row for row in csv.DictReader(metrics_file.open()) if row.get("val/loss")]
        if rows:
            summary["metrics"] = {
                k: float(v) for k, v in rows[-1].items() if k.startswith("val/") and v
            }
    return summary


def _model_card(
    architecture: str, arguments: dict[str, Any], cfg: DictConfig, protocol: EvalProtocol, run: dict
) -> str:
    recipe = {
        key: OmegaConf.select(cfg, key)
        for key in (
            "trainer.max_epochs",
            "data.batch_size",
            "model.lr",
            "model.weight_decay",
            "model.label_smoothing",
            "seed",
        )
    }
    metrics = "\n".join(
        f"| {name} | {value:.4f} |" for name, value in run.get("metrics", {}).items()
    )
    return (
        "---\nlibrary_name: timm\ntags: [image-classification, timm, resnest]\n---\n\n"
        f"# {architecture}, run {run['id']}\n\n"
        f"A ResNeSt classifier (timm architecture `{architecture}`"
        f"{', arguments ' + json.dumps(arguments) if arguments else ''}) trained on "
        f"`{cfg.data.root}` ({cfg.model.num_classes} classes), exported from `{run['checkpoint']}`.\n\n"
        f"Evaluation: {protocol.describe()}.\n\n"
        f"## Recipe\n\n```yaml\n{yaml.safe_dump(recipe, sort_keys=False)}```\n\n"
        + (f"## Validation\n\n| metric | value |\n|---|---|\n{metrics}\n" if metrics else "")
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("run", type=Path, help="a run directory or a .ckpt file of one")
    parser.add_argument("out", type=Path, help="the folder to write")
    parser.add_argument("--format", choices=FORMATS, default="timm")
    parser.add_argument("--config", type=Path, help="the run's config_resolved.yaml")
    parser.add_argument("--image-size", type=int, help="ONNX: the example input's size")
    args = parser.parse_args(argv)
    checkpoint = args.run if args.run.is_file() else best_checkpoint(args.run)
    module, cfg = load_trained(checkpoint, args.config)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.format == "timm":
        export_timm(module, cfg, checkpoint, args.out)
    else:
        export_onnx(module, cfg, args.out, args.image_size)
    print(f"exported {checkpoint} to {args.out} ({args.format})")


if __name__ == "__main__":
    main()
