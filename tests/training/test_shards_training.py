"""The toy presets train from shards (``data.format=shards``): from a local folder, and
from an S3-compatible server (moto's, started on 127.0.0.1) reached through
``data.storage_options`` or through the standard AWS environment variables, its chunks cached
under ``data.cache_dir``. Each epoch from shards trains on exactly the file tree's samples with
the file tree's augmentation of each (in litdata's order), and shards from the server train
exactly as the same shards read locally: this is what lets the preset runs' learning bounds
speak for every source. toy_cls's session run learns from local shards
(tests/training/test_toy_cls_run.py), toy_seg's from shards in object storage
(tests/training/test_toy_seg_run.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import last_logged, run_entry_point, short_run, small_cls_run
from tests.object_storage import CREDENTIALS, storage_options, upload
from tests.training.record_trained_samples import digests_per_epoch, recording_to
from tests.training.resume_checks import assert_same_history, assert_same_weights

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def s3_shards(small_imagenet_shards: Path, s3_endpoint: str) -> str:
    """The shards uploaded to the server as they are: their ``s3://`` URL."""
    return upload(small_imagenet_shards, s3_endpoint, "toy/imagenet")


@pytest.fixture(scope="module")
def s3_seg_shards(small_ade20k_shards: Path, s3_endpoint: str) -> str:
    """The segmentation shards uploaded to the server as they are: their ``s3://`` URL."""
    return upload(small_ade20k_shards, s3_endpoint, "toy/ade20k")


def _from_shards(run: list[str], root: str | Path) -> list[str]:
    return [*run, f"data.root={root}", "data.format=shards"]


def _seg_run(batches: int, epochs: int = 1) -> list[str]:
    return ["experiment=toy_seg", *short_run(batches, epochs), "test=false"]


# per task: a short run of 3 steps, the metric its validation logs, and the fixtures of its
# shards in a local folder and on the server
SHORT_RUNS = {
    "classification": (small_cls_run(3), "val/acc1", "small_imagenet_shards", "s3_shards"),
    "segmentation": (_seg_run(3), "val/miou", "small_ade20k_shards", "s3_seg_shards"),
}


@pytest.mark.parametrize("task", SHORT_RUNS)
def test_shards_on_an_s3_compatible_server_train_exactly_as_the_same_shards_read_locally(
    task: str, request: pytest.FixtureRequest, tmp_path: Path, s3_endpoint: str
) -> None:
    """Streaming changes where the chunks come from, nothing else: the same run from the folder
    and from the server logs the same figures and ends with the same weights, so a learning
    bound shown from one source holds for the other."""
    run, metric, local_fixture, server_fixture = SHORT_RUNS[task]
    cache, local, server = tmp_path / "cache", tmp_path / "local", tmp_path / "s3"
    run_entry_point(
        "src/train.py", _from_shards(run, request.getfixturevalue(local_fixture)), local
    )
    from_server = [storage_options(s3_endpoint), f"data.cache_dir={cache}"]
    overrides = [*_from_shards(run, request.getfixturevalue(server_fixture)), *from_server]
    run_entry_point("src/train.py", overrides, server)
    assert_same_history(local, server)
    assert_same_weights(local, server, steps=3)
    assert last_logged(server, "train/loss_epoch") > 0
    assert 0 <= last_logged(server, metric) <= 1
    # the training chunk came through the cache (validation reads its samples by byte range)
    (digest,) = cache.iterdir()
    assert [path.name for path in (digest / "train").rglob("chunk-*.bin")] == ["chunk-0-0.bin"]


def test_the_server_and_credentials_can_come_from_the_aws_environment(
    tmp_path: Path, s3_shards: str, s3_endpoint: str
) -> None:
    environment = {
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
        "AWS_DEFAULT_REGION": CREDENTIALS["region_name"],
    }
    run_dir = tmp_path / "run"
    overrides = [*_from_shards(small_cls_run(3), s3_shards), f"data.cache_dir={tmp_path / 'cache'}"]
    run_entry_point("src/train.py", overrides, run_dir, env=environment)
    assert last_logged(run_dir, "train/loss_epoch") > 0


def _same_samples_each_epoch(
    run: list[str], epochs: int, tree: Path, shards: Path, tmp_path: Path, metric: str
) -> None:
    """``run`` from the file tree and from its shards: every epoch trains on the same samples,
    each augmented alike, and on each once; the run from shards validates (``metric``)."""
    trained = {}
    for source, data in (("files", [f"data.root={tree}"]), ("shards", [f"data.root={shards}"])):
        notes = tmp_path / f"{source}.txt"
        data += ["data.format=shards"] if source == "shards" else []
        run_entry_point("src/train.py", [*run, *data, *recording_to(notes)], tmp_path / source)
        trained[source] = digests_per_epoch(notes)
    assert trained["files"].keys() == trained["shards"].keys() == set(range(epochs))
    for epoch, from_files in trained["files"].items():
        from_shards = trained["shards"][epoch]
        assert sorted(from_shards) == sorted(from_files)
        assert len(set(from_files)) == len(from_files)  # each sample once
        assert from_shards != from_files  # litdata's order, not the file tree's
    assert 0 <= last_logged(tmp_path / "shards", metric) <= 1


def test_each_epoch_from_shards_trains_on_the_file_trees_classification_samples(
    tmp_path: Path, small_imagenet_shards: Path, small_toy_imagenet_root: Path
) -> None:
    run = small_cls_run(8, 2)  # the 64 training images, in 8 batches of 8, twice
    _same_samples_each_epoch(
        run, 2, small_toy_imagenet_root, small_imagenet_shards, tmp_path, "val/acc1"
    )


def test_each_epoch_from_shards_trains_on_the_file_trees_segmentation_samples(
    tmp_path: Path, small_ade20k_shards: Path, small_toy_ade20k_root: Path
) -> None:
    run = _seg_run(4)  # the 16 training images, in 4 batches of 4 (the epochs: above)
    _same_samples_each_epoch(
        run, 1, small_toy_ade20k_root, small_ade20k_shards, tmp_path, "val/miou"
    )
