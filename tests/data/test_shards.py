"""Converting the toy trees into shards, and reading them back as the file tree reads itself.

A toy ImageNet with one truncated JPEG and a toy ADE20K with one image whose mask is gone are
converted with the real converter (litdata's ``optimize``): both files are reported by path and
reason, in the result and the manifest, and the shards hold every other item, with the bytes,
labels and masks the file tree has.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import hydra
import numpy as np
import pytest
import torch
from litdata import StreamingDataset

from scripts.make_shards import compose_config, main
from src.data.datamodule import TrainValDataModule
from src.data.image_io import EncodedFile, read_mask, read_rgb
from src.data.imagenet import ImageFolderDataset
from src.data.samplers import SampleKey, epoch_plan
from src.data.shard_datasets import ShardTrainSet
from src.data.shard_format import MANIFEST, Manifest
from src.utils.config_validation import ConfigError
from tests.helpers import REPO_ROOT

SEED = 3


def _convert(data: str, root: Path, out: Path, *extra: str) -> Manifest:
    main([f"data={data}", f"data.root={root}", f"out={out}", f"seed={SEED}", *extra])
    return Manifest.from_json((out / MANIFEST).read_text())


def _datamodule(data: str, root: Path, *extra: str) -> TrainValDataModule:
    cfg = compose_config([f"data={data}", f"data.root={root}", "out=unused", *extra])
    return hydra.utils.instantiate(cfg.data)


def _records(out: Path, split: str) -> list[dict]:
    stream = StreamingDataset(str(out / split))
    return [stream[index] for index in range(len(stream))]


@pytest.fixture(scope="module")
def imagenet_tree(tmp_path_factory: pytest.TempPathFactory, small_toy_imagenet_root: Path) -> Path:
    """The small toy ImageNet (8 classes x 8 train / 4 val) with one train JPEG truncated."""
    root = tmp_path_factory.mktemp("tree") / "imagenet"
    shutil.copytree(small_toy_imagenet_root, root)
    broken = sorted((root / "train").glob("*/*.JPEG"))[5]
    broken.write_bytes(broken.read_bytes()[:300])
    return root


@pytest.fixture(scope="module")
def imagenet_shards(tmp_path_factory: pytest.TempPathFactory, imagenet_tree: Path) -> Path:
    out = tmp_path_factory.mktemp("shards") / "imagenet"
    _convert("toy_imagenet", imagenet_tree, out)
    return out


def test_imagenet_conversion_lists_the_corrupt_file_and_keeps_the_rest(
    imagenet_tree: Path, imagenet_shards: Path
) -> None:
    manifest = Manifest.from_json((imagenet_shards / MANIFEST).read_text())
    broken = str(sorted((imagenet_tree / "train").glob("*/*.JPEG"))[5])
    (unreadable,) = manifest.splits["train"].unreadable
    assert unreadable.path == broken and "truncated" in unreadable.reason
    assert (manifest.splits["train"].listed, manifest.splits["train"].written) == (64, 63)
    assert manifest.splits["val"].written == 32 and not manifest.splits["val"].unreadable
    assert manifest.source_root == str(imagenet_tree.resolve())
    assert manifest.classes == sorted(p.name for p in (imagenet_tree / "train").iterdir())
    assert manifest.options["seed"] == SEED and manifest.options["engine"].startswith("litdata")
    files = _datamodule("toy_imagenet", imagenet_tree)
    for split in ("train", "val"):
        items = files.list_items(split)
        records = _records(imagenet_shards, split)
        # each record is the file tree's item at its index, with the file's bytes as stored
        for record in records:
            path, label = items[record["index"]]
            assert (bytes(record["image_path"]).decode(), record["label"]) == (path, label)
            assert bytes(record["image"]) == Path(path).read_bytes()
        indices = [record["index"] for record in records]
        expected = {i for i, (path, _) in enumerate(items) if path != broken}
        assert set(indices) == expected and len(indices) == len(expected)
        assert indices != sorted(indices)  # shuffled before writing


def test_shards_give_the_file_trees_samples_and_augmentation_seeds(
    imagenet_tree: Path, imagenet_shards: Path
) -> None:
    files = _datamodule("toy_imagenet", imagenet_tree)
    shards = _datamodule("toy_imagenet", imagenet_shards, "data.format=shards")
    files.setup("fit")
    shards.setup("fit")
    assert shards.class_names == files.class_names
    records = _records(imagenet_shards, "val")
    assert len(shards.val_set) == len(records)
    for position, record in enumerate(records):
        mine, theirs = shards.val_set[position], files.val_set[record["index"]]
        assert torch.equal(mine["image"], theirs["image"]) and mine["target"] == theirs["target"]
    # two training epochs on two loader workers: whole batches of distinct samples
    # (63 = 7 x 8 + 7 left out), each augmented with the seed the file tree gives it that epoch
    train_set: ShardTrainSet = shards.train_set
    train_set.decoder = _PathTarget(train_set.decoder.items, train_set.decoder.transform)
    loader = train_set.loader(**_plain_loader(workers=2))
    paths = [path for path, _ in files.train_set.items]
    written = {bytes(r["image_path"]).decode() for r in _records(imagenet_shards, "train")}
    orders = []
    for epoch in range(2):
        samples = [sample for batch in loader for sample in batch]
        seen = [sample["target"] for sample in samples]
        assert len(seen) == len(set(seen)) == 56 and set(seen) <= written
        seeds = epoch_plan(files.seed, epoch, len(paths))[1]
        for sample in samples:
            index = paths.index(sample["target"])
            expected = files.train_set[SampleKey(index, int(seeds[index]))]
            assert torch.equal(sample["image"], expected["image"]), (epoch, sample["target"])
        orders.append(seen)
    assert orders[0] != orders[1]


class _PathTarget(ImageFolderDataset):
    """The ImageNet dataset with each sample's file path as its target."""

    def load(self, path, label):  # type: ignore[no-untyped-def]
        return {"image": super().load(path, label)["image"], "target": str(path)}


def _plain_loader(workers: int) -> dict:
    return {
        "batch_size": 8,
        "num_workers": workers,
        "pin_memory": False,
        "persistent_workers": False,
        "collate_fn": list,
    }


def test_shards_of_another_data_set_or_class_count_are_refused(imagenet_shards: Path) -> None:
    wrong_kind = _datamodule("toy_ade20k", imagenet_shards, "data.format=shards")
    with pytest.raises(ConfigError, match="holds imagenet shards") as caught:
        wrong_kind.setup("fit")
    assert "data.root" in str(caught.value)
    wrong_classes = _datamodule(
        "toy_imagenet", imagenet_shards, "data.format=shards", "data.num_classes=10"
    )
    with pytest.raises(ConfigError, match="set data.num_classes=8"):
        wrong_classes.setup("fit")


def test_a_finished_conversion_is_kept_and_one_with_other_settings_refused(
    imagenet_tree: Path, imagenet_shards: Path
) -> None:
    before = (imagenet_shards / MANIFEST).stat().st_mtime_ns
    _convert("toy_imagenet", imagenet_tree, imagenet_shards)  # the same: nothing to do
    assert (imagenet_shards / MANIFEST).stat().st_mtime_ns == before
    with pytest.raises(SystemExit, match="holds shards made from .* choose another out="):
        _convert("toy_imagenet", imagenet_tree, imagenet_shards, "chunk_bytes=1MB")
    with pytest.raises(SystemExit, match="out= is missing"):
        main(["data=toy_imagenet"])


def test_a_folder_without_a_manifest_is_refused_with_the_command_to_make_one(
    tmp_path: Path,
) -> None:
    datamodule = _datamodule("toy_imagenet", tmp_path, "data.format=shards")
    with pytest.raises(ConfigError, match="scripts.make_shards"):
        datamodule.setup("fit")


def test_ade20k_conversion_lists_the_image_without_its_mask(
    tmp_path: Path, small_toy_ade20k_root: Path
) -> None:
    root = tmp_path / "ade"
    shutil.copytree(small_toy_ade20k_root, root)
    annotations = root / "ADEChallengeData2016" / "annotations" / "validation"
    gone = sorted(annotations.iterdir())[2]
    gone.unlink()
    manifest = _convert("toy_ade20k", root, tmp_path / "shards")
    (unreadable,) = manifest.splits["val"].unreadable
    assert unreadable.path.endswith(gone.stem + ".jpg") and str(gone) in unreadable.reason
    assert manifest.splits["val"].written == 7 and manifest.splits["train"].written == 16
    for record in _records(tmp_path / "shards", "val"):
        mask = Path(bytes(record["mask_path"]).decode())
        assert bytes(record["mask"]) == mask.read_bytes()  # the PNG as stored: lossless
        assert Path(bytes(record["image_path"]).decode()).stem == mask.stem
    shards = _datamodule("toy_ade20k", tmp_path / "shards", "data.format=shards")
    shards.setup("validate")
    sample = shards.val_set[0]
    assert sample["image"].shape[1:] == sample["target"].shape


@pytest.mark.slow
def test_a_conversion_killed_midway_leaves_no_shard_folder_and_a_rerun_finishes_it(
    tmp_path: Path, small_toy_imagenet_root: Path
) -> None:
    out = tmp_path / "shards"
    command = [
        sys.executable,
        "-m",
        "scripts.make_shards",
        "data=toy_imagenet",
        f"data.root={small_toy_imagenet_root}",
        f"out={out}",
    ]
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL)
    finished_train = out.with_name("shards.partial") / "train.json"
    while not finished_train.exists() and process.poll() is None:
        time.sleep(0.01)
    process.kill()
    process.wait()
    assert not out.exists()  # nothing that looks like a finished data set
    kept = finished_train.read_text()
    rerun = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert "Split train was finished before" in rerun.stderr + rerun.stdout
    manifest = Manifest.from_json((out / MANIFEST).read_text())
    assert json.loads(kept)["written"] == manifest.splits["train"].written == 64
    assert manifest.splits["val"].written == 32
    assert len(_records(out, "val")) == 32 and not out.with_name("shards.partial").exists()


def test_a_capped_short_side_re_encodes_images_and_masks_alike(
    tmp_path: Path, small_toy_ade20k_root: Path
) -> None:
    manifest = _convert(
        "toy_ade20k", small_toy_ade20k_root, tmp_path / "shards", "max_short_side=48"
    )
    assert manifest.options["max_short_side"] == 48
    for record in _records(tmp_path / "shards", "train"):
        image = read_rgb(EncodedFile("image", bytes(record["image"])))
        mask = read_mask(EncodedFile("mask", bytes(record["mask"])))
        original = read_mask(bytes(record["mask_path"]).decode())
        assert image.shape == (48, 64, 3) and mask.shape == (48, 64)  # from 96 x 128
        assert set(np.unique(mask)) <= set(np.unique(original))  # labels kept, none blended
