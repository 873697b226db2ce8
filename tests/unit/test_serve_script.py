"""scripts/serve.sh (what `make run` ends in): a worker that dies is started again while the
web server goes on; the web server stopping stops everything. Fake commands stand in for
celery and gunicorn."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from tests.conftest import wait_for

REPO = Path(__file__).resolve().parents[2]


def _script(path: Path, body: str) -> str:
    path.write_text(f"#!/usr/bin/env bash\n{body}\n")
    path.chmod(0o755)
    return str(path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


def _serve(tmp_path: Path, worker: str, web: str) -> subprocess.Popen:
    env = dict(os.environ, WORKER_COMMAND=worker, WEB_COMMAND=web, WORKER_RESTART_DELAY="1")
    return subprocess.Popen(
        [str(REPO / "scripts" / "serve.sh")],
        env=env,
        stdout=(tmp_path / "serve.log").open("w"),
        stderr=subprocess.STDOUT,
    )


def test_a_dying_worker_is_restarted_and_the_web_server_goes_on(tmp_path):
    starts = tmp_path / "starts"
    worker = _script(tmp_path / "worker.sh", f"echo $$ >> {starts}; sleep 0.3; exit 3")
    web = _script(tmp_path / "web.sh", f"echo $$ > {tmp_path / 'web.pid'}; exec sleep 120")
    serve = _serve(tmp_path, worker, web)
    try:
        wait_for(
            lambda: starts.exists() and len(starts.read_text().split()) >= 3,
            timeout=60,
            what="the worker to be started three times",
        )
        web_pid = int((tmp_path / "web.pid").read_text())
        assert serve.poll() is None and _alive(web_pid)  # still serving
        assert "restarting the worker" in (tmp_path / "serve.log").read_text()
    finally:
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=20) == 143
    wait_for(lambda: not _alive(web_pid), timeout=10, what="the web server to stop")


def test_the_web_server_stopping_stops_the_worker(tmp_path):
    worker = _script(tmp_path / "worker.sh", f"echo $$ > {tmp_path / 'worker.pid'}; exec sleep 120")
    web = _script(tmp_path / "web.sh", "sleep 1; exit 0")
    serve = _serve(tmp_path, worker, web)
    assert serve.wait(timeout=30) == 1
    worker_pid = int((tmp_path / "worker.pid").read_text())
    wait_for(lambda: not _alive(worker_pid), timeout=10, what="the worker to stop")
