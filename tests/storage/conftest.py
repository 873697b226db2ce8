"""Media on S3: a real S3 API served locally by moto, a fresh bucket per test.

``s3`` switches this process's media storage to that bucket, built by the very
``s3_media_storage()`` that ``MEDIA_STORAGE=s3`` uses in production, and puts the same
``MEDIA_STORAGE`` / ``AWS_*`` variables in the environment, so a worker started by
``start_worker`` configures itself from them exactly as a worker on another machine would.
The local media folders (this process's and the worker's) are fresh and must stay empty:
nothing may fall back on a local file.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

REGION = "us-east-1"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1, a free port, for the whole session (in a thread)."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@dataclasses.dataclass
class Bucket:
    """The test's bucket, seen directly through boto3 (not through the product's code)."""

    name: str
    endpoint: str
    client: Any
    env: dict[str, str]
    local_media: Path
    worker_media: Path

    def objects(self) -> set[str]:
        """The keys of every object in the bucket."""
        keys: set[str] = set()
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name):
            keys |= {item["Key"] for item in page.get("Contents", [])}
        return keys

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()

    def worker_env(self) -> dict[str, str]:
        """Extra environment of a worker: its own (empty) local media folder."""
        return {"MEDIA_ROOT": str(self.worker_media)}


def _files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


@pytest.fixture
def s3(s3_endpoint, settings, monkeypatch, tmp_path) -> Iterator[Bucket]:  # type: ignore[no-untyped-def]
    import webapp.settings as product_settings

    name = f"media-{uuid.uuid4().hex[:16]}"
    env = {
        "MEDIA_STORAGE": "s3",
        "AWS_STORAGE_BUCKET_NAME": name,
        "AWS_S3_ENDPOINT_URL": s3_endpoint,
        "AWS_S3_REGION_NAME": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_LOCATION", "AWS_S3_ADDRESSING_STYLE"):
        monkeypatch.delenv(key, raising=False)
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 2}),
    )
    client.create_bucket(Bucket=name)
    local_media = tmp_path / "local-media"
    worker_media = tmp_path / "worker-media"
    local_media.mkdir()
    worker_media.mkdir()
    settings.MEDIA_ROOT = local_media
    settings.STORAGES = {**settings.STORAGES, "default": product_settings.s3_media_storage()}
    bucket = Bucket(name, s3_endpoint, client, env, local_media, worker_media)
    from django.core.files.storage import default_storage
    from storages.backends.s3 import S3Storage

    assert isinstance(default_storage, S3Storage)
    assert default_storage.bucket_name == name
    yield bucket
    assert _files_under(local_media) == [], "a media file was written to the local folder"
    assert _files_under(worker_media) == [], "the worker wrote a media file to its local folder"
    for key in bucket.objects():
        client.delete_object(Bucket=name, Key=key)
    client.delete_bucket(Bucket=name)
