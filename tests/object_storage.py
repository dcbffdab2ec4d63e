"""An S3-compatible server on 127.0.0.1 for the tests that stream shards from object storage
(moto's, in a thread of the test process), and copying a folder into it as it is."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

BUCKET = "shards"
CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "region_name": "us-east-1",
}


@contextmanager
def s3_server() -> Iterator[str]:
    """A server on a free port of 127.0.0.1, with the test bucket: its endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint, **CREDENTIALS).create_bucket(Bucket=BUCKET)
    try:
        yield endpoint
    finally:
        server.stop()


def upload(folder: Path, endpoint: str, prefix: str) -> str:
    """Every file under ``folder`` into the test bucket under ``prefix``: its ``s3://`` URL."""
    client = boto3.client("s3", endpoint_url=endpoint, **CREDENTIALS)
    for path in folder.rglob("*"):
        if path.is_file():
            client.upload_file(str(path), BUCKET, f"{prefix}/{path.relative_to(folder)}")
    return f"s3://{BUCKET}/{prefix}"


def storage_options(endpoint: str) -> str:
    """The ``data.storage_options`` override that reaches the server with the test credentials."""
    options = ",".join(f"{key}:'{value}'" for key, value in CREDENTIALS.items())
    return f"data.storage_options={{endpoint_url:'{endpoint}',{options}}}"
