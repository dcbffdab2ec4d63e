"""The toy presets train from shards (``data.format=shards``): from a local folder, and
from an S3-compatible server (moto's, started here on 127.0.0.1) reached through
``data.storage_options`` or through the standard AWS environment variables, its chunks cached
under ``data.cache_dir``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from scripts.make_shards import main as make_shards
from tests.helpers import last_logged, run_entry_point, short_run, small_cls_run

pytestmark = pytest.mark.slow

BUCKET = "shards"
CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "region_name": "us-east-1",
}


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory, small_toy_imagenet_root: Path) -> Path:
    """The small toy ImageNet (64 train / 32 val) as shards."""
    out = tmp_path_factory.mktemp("shards") / "imagenet"
    make_shards(["data=toy_imagenet", f"data.root={small_toy_imagenet_root}", f"out={out}"])
    return out


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """An S3-compatible server on a free port of 127.0.0.1."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def s3_shards(shards: Path, s3_endpoint: str) -> str:
    """The shards uploaded to the server as they are: their ``s3://`` URL."""
    client = boto3.client("s3", endpoint_url=s3_endpoint, **CREDENTIALS)
    client.create_bucket(Bucket=BUCKET)
    for path in shards.rglob("*"):
        if path.is_file():
            client.upload_file(str(path), BUCKET, f"toy/imagenet/{path.relative_to(shards)}")
    return f"s3://{BUCKET}/toy/imagenet"


def _overrides(root: str) -> list[str]:
    return [*small_cls_run(3), f"data.root={root}", "data.format=shards"]


def test_toy_cls_trains_from_local_shards(tmp_path: Path, shards: Path) -> None:
    run_dir = tmp_path / "run"
    run_entry_point("src/train.py", _overrides(str(shards)), run_dir)
    assert last_logged(run_dir, "train/loss_epoch") > 0
    assert 0 <= last_logged(run_dir, "val/acc1") <= 1


def test_toy_cls_trains_from_shards_on_an_s3_compatible_server(
    tmp_path: Path, s3_shards: str, s3_endpoint: str
) -> None:
    options = ",".join(f"{key}:'{value}'" for key, value in CREDENTIALS.items())
    cache = tmp_path / "cache"
    overrides = [
        *_overrides(s3_shards),
        f"data.storage_options={{endpoint_url:'{s3_endpoint}',{options}}}",
        f"data.cache_dir={cache}",
    ]
    run_dir = tmp_path / "run"
    run_entry_point("src/train.py", overrides, run_dir)
    assert last_logged(run_dir, "train/loss_epoch") > 0
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
    overrides = [*_overrides(s3_shards), f"data.cache_dir={tmp_path / 'cache'}"]
    run_entry_point("src/train.py", overrides, run_dir, env=environment)
    assert last_logged(run_dir, "train/loss_epoch") > 0


def test_toy_seg_trains_from_local_shards(tmp_path: Path, small_toy_ade20k_root: Path) -> None:
    out = tmp_path / "shards"
    make_shards(["data=toy_ade20k", f"data.root={small_toy_ade20k_root}", f"out={out}"])
    overrides = [
        "experiment=toy_seg",
        *short_run(2),
        "test=false",
        f"data.root={out}",
        "data.format=shards",
    ]
    run_dir = tmp_path / "run"
    run_entry_point("src/train.py", overrides, run_dir)
    assert last_logged(run_dir, "train/loss_epoch") > 0
    assert 0 <= last_logged(run_dir, "val/miou") <= 1
