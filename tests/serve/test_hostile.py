"""The service against hostile clients and a hostile environment (issue 17, "The service").

One test (or a few) per case: the work folder's lock and ownership, uploads left by a killed server,
empty tokens, a header that understates a video's duration, stalled uploads, costly images and
abandoned work, a full disk, and DELETE racing GET. Servers bind 127.0.0.1 and are stopped by their
own PID; every wait and loop is bounded.
"""

from __future__ import annotations

import errno
import io
import json
import os
import signal
import socket
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srlib.io.pictures import Picture
from srlib.serve import ServeConfig, create_app
from srlib.serve.__main__ import main as serve_main
from srlib.serve.images import _quantised, encode_image
from srlib.serve.workdir import WorkDir
from tests.serve.conftest import TOKEN, Server, clip, png

httpx = pytest.importorskip("httpx")
from starlette.testclient import TestClient  # noqa: E402  (after the importorskip of the extra)

_WAIT_S = 30.0


def _flat_png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), 128, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _until(check, timeout: float = _WAIT_S, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"not true within {timeout} s: {check}")


def _partial_upload(url: str, path: str, declared: int, sent: bytes, token: str | None) -> socket.socket:
    """A raw connection that declares ``declared`` body bytes, sends ``sent`` and then stalls."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: video/mp4\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    )
    sock.sendall(head.encode() + sent)
    return sock


def _response_status(sock: socket.socket, timeout: float) -> tuple[int, str]:
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return status, data.partition(b"\r\n\r\n")[2].decode(errors="replace")


def _serve_cli(argv: list[str], capsys) -> tuple[int, str]:
    code = serve_main(argv)
    return code, capsys.readouterr().err.strip()


# -- 1. the work folder: only our own files are deleted; one server per folder -----------------------
def _foreign_files(work: Path) -> dict[Path, bytes]:
    foreign = {
        work / "jobs" / "notes.txt": b"mine",
        work / "jobs" / "0123456789abcdef0123456789abcdef" / "input.mp4": b"not the server's",
        work / "state" / "0123456789abcdef0123456789abcdef.json": b'{"id": "x", "state": "running"}',
        work / "state" / "fedcba9876543210fedcba9876543210.cancel": b"",
        work / "uploads" / "123" / "keep.bin": b"a user's file",
    }
    for path, data in foreign.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return foreign


def test_work_dir_keeps_foreign_files_and_refuses_a_second_server(tmp_path: Path, capsys) -> None:
    """The first server's start-up path (WorkDir.open: lock, then sweep) runs here; the second server is
    the real command line, refused before it touches anything."""
    work = tmp_path / "work"
    foreign = _foreign_files(work)
    first = WorkDir.open(work)
    try:
        assert all(p.read_bytes() == d for p, d in foreign.items())  # the sweep left them all
        job_id, folder = first.new_job_folder()  # the running server's own job
        (folder / "input.mp4").write_bytes(b"a client's video")
        first.write_state(job_id, {"id": job_id, "state": "queued"})
        code, err = _serve_cli(
            ["--model", "bicubic", "--scale", "2", "--no-auth", "--work-dir", str(work), "--port", "1"],
            capsys,
        )
        assert code == 2 and len(err.splitlines()) == 1, err
        assert err.startswith("error: Another srlib server is using the work folder") and str(work) in err
        assert "give this server its own --work-dir" in err
        assert (folder / "input.mp4").exists() and first.read_state(job_id)["state"] == "queued"
        assert first.remove_job_folder(folder) == (2, 0) and first.remove_state(job_id)
    finally:
        first.close()
    assert all(p.read_bytes() == d for p, d in foreign.items())
    assert not (work / ".srlib-serve.lock").exists()
    again = WorkDir.open(work)  # the folder is free once the first server is gone
    again.close()


def test_work_dir_sweep_removes_only_our_leftovers(tmp_path: Path) -> None:
    work = tmp_path / "work"
    foreign = _foreign_files(work)
    crashed = WorkDir.open(work)
    job_id, folder = crashed.new_job_folder()
    (folder / ".result.mp4.abc.tmp").write_bytes(b"half a video")
    crashed.write_state(job_id, {"id": job_id, "state": "running"})
    crashed.request_cancel(job_id)
    uploads = crashed.worker_uploads()
    crashed.new_upload(uploads, ".mp4").write_bytes(b"part of an upload")
    os.close(crashed._lock_fd)  # the process died: its lock is gone, its files stay
    restarted = WorkDir.open(work)
    try:
        assert (
            not folder.exists() and not uploads.exists() and list((work / "state").glob(f"{job_id}*")) == []
        )
        assert all(p.read_bytes() == d for p, d in foreign.items())
    finally:
        restarted.close()


# -- 2. uploads of a killed server are swept at the next start -------------------------------------
@pytest.mark.slow
def test_uploads_left_by_a_killed_server_are_swept_at_next_start(tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {"TMPDIR": str(temp)}
    parent = temp / f"srlib-serve-{os.getuid()}"
    args = ["--model", "bicubic", "--scale", "2", "--no-auth", "--upload-idle-timeout", "60"]
    srv = Server(args, tmp_path / "a.log", env=env)
    try:
        sock = _partial_upload(srv.url, "/v1/jobs", 200_000, b"\0" * 50_000, None)
        uploads = _until(lambda: [p for p in parent.glob("run-*/uploads/*/video.*") if p.stat().st_size])
        assert len(uploads) == 1
        os.kill(srv.process.pid, signal.SIGKILL)  # no cleanup can run
        srv.process.wait(10)
        sock.close()
    finally:
        srv.stop()
    assert uploads[0].exists()  # what a SIGKILL leaves
    (parent / "notes.txt").write_bytes(b"not the server's")
    srv = Server(args, tmp_path / "b.log", env=env)
    try:
        assert not uploads[0].exists() and not uploads[0].parents[2].exists()  # the dead run's folder
        assert (parent / "notes.txt").read_bytes() == b"not the server's"
        assert len(list(parent.glob("run-*"))) == 1  # only the live server's own
    finally:
        assert srv.stop() == 0
    assert list(parent.glob("run-*")) == [] and (parent / "notes.txt").exists()


# -- 3. an empty token never turns authentication off -------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "env", "words"),
    [
        (["--token", ""], None, "The token given by --token is empty"),
        (["--token", "   "], None, "The token given by --token is empty"),
        ([], "", "The token given by $SRLIB_SERVE_TOKEN is empty"),
        ([], None, "No token: pass --token TOKEN"),
        (["--token", " padded "], None, "spaces"),
        (["--token", "abc", "--no-auth"], None, "contradict"),
        (["--no-auth"], "abc", "unset $SRLIB_SERVE_TOKEN"),
    ],
)
def test_empty_token_is_refused(argv, env, words, capsys, monkeypatch) -> None:
    monkeypatch.delenv("SRLIB_SERVE_TOKEN", raising=False)
    if env is not None:
        monkeypatch.setenv("SRLIB_SERVE_TOKEN", env)
    code, err = _serve_cli(["--model", "bicubic", "--port", "1", *argv], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert words in err


def test_empty_token_is_refused_by_create_app() -> None:
    config = ServeConfig(model="bicubic", scale=2)
    for token in (None, "", " \t"):
        with pytest.raises(ValueError, match="no-auth"):
            create_app(config, token=token)
    with pytest.raises(ValueError, match="not both"):
        create_app(config, token=TOKEN, no_auth=True)


# -- 4. the duration is counted from the frames, not taken from the header -----------------------------
def test_understated_duration_header_is_counted(client, work_dir: Path, tmp_path: Path) -> None:
    path = clip(tmp_path / "long.mkv", frames=32, fps=8, audio=False)  # 4 s; the server takes 3 s
    data = bytearray(path.read_bytes())
    at = data.find(b"\x44\x89\x88")  # the Segment's Duration element: an 8-byte float, in ms
    assert at > 0
    data[at + 3 : at + 11] = struct.pack(">d", 500.0)  # the header now says 0.5 s
    before = set((work_dir / "jobs").iterdir())
    response = client.post("/v1/jobs", content=bytes(data), headers={"content-type": "video/x-matroska"})
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert (
        "--max-video-seconds" in error and "counted from its frames" in error and "header says 0.5 s" in error
    )
    assert set((work_dir / "jobs").iterdir()) == before


# -- 5. stalled uploads hold no job slot ------------------------------------------------------------
def test_stalled_uploads_hold_no_job_slot(server, client, tmp_path: Path) -> None:
    """The session server takes 2 jobs and gives up on an upload silent for 2 s."""
    stalled = [_partial_upload(server.url, "/v1/jobs", 100_000, b"\0" * 1000, TOKEN) for _ in range(3)]
    try:
        time.sleep(0.3)  # the three uploads have started
        assert client.get("/v1/stats").json()["jobs"]["receiving"] == 3
        small = clip(tmp_path / "small.mp4", frames=4).read_bytes()
        accepted = client.post("/v1/jobs", content=small)
        assert accepted.status_code == 202, accepted.text  # the stalled uploads took no slot
        job_id = accepted.json()["id"]
        answers = [_response_status(sock, 10) for sock in stalled]
    finally:
        for sock in stalled:
            sock.close()
    assert all(status == 408 and "--upload-idle-timeout" in body for status, body in answers), answers
    _until(lambda: client.get(f"/v1/jobs/{job_id}").json()["state"] in ("done", "failed"))
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 200
    assert client.get("/v1/stats").json()["jobs"]["receiving"] == 0


# -- 6. costly images: the output limit first, and no work for nobody ---------------------------------
@pytest.fixture(scope="module")
def default_server(tmp_path_factory: pytest.TempPathFactory):
    """bicubic x4 with the default limits, and a 2 s answer time."""
    logs = tmp_path_factory.mktemp("serve-default")
    srv = Server(["--model", "bicubic", "--scale", "4", "--no-auth", "--timeout", "2"], logs / "server.log")
    yield srv
    srv.stop()


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak RSS from /proc")
def test_flat_png_within_input_limits_is_refused_before_work(default_server) -> None:
    body = _flat_png(2000, 2000)  # 16 KB, 4 MP: x4 would be 64 MP (768 MB as float32)
    assert len(body) < 20_000
    peak = _peak_rss_mb(default_server.process.pid)
    with default_server.client(token=False) as c:
        started = time.monotonic()
        response = c.post("/v1/upscale", content=body)
        assert response.status_code == 413, response.text[:300]
        assert "--max-output-pixels" in response.json()["error"] and "8000x8000" in response.json()["error"]
        assert time.monotonic() - started < 3
        assert c.get("/v1/stats").json()["batching"]["model_calls"] == 0
    assert _peak_rss_mb(default_server.process.pid) - peak < 300  # the decoded input only (48 MB)


def _wait_stopped(c, before: int) -> dict:
    return _until(lambda: (s := c.get("/v1/stats").json()["batching"])["stopped_calls"] > before and s, 5)


def test_model_work_stops_after_the_timeout_answer(default_server) -> None:
    body = _flat_png(1000, 1000)  # in 8-pixel tiles: about 5 s of model work (16-pixel: 1.6 s, too quick)
    with default_server.client(token=False) as c:
        before = c.get("/v1/stats").json()["batching"]
        started = time.monotonic()
        response = c.post("/v1/upscale", params={"tile": "8"}, content=body)
        assert response.status_code == 503 and "--timeout" in response.json()["error"]
        stats = _wait_stopped(c, before["stopped_calls"])
        assert time.monotonic() - started < 4  # stopped within a tile, not after the whole image
        assert stats["model_calls"] == before["model_calls"]  # the call did not run to its end
        assert c.post("/v1/upscale", content=png()).status_code == 200  # the model is free again


def test_model_work_stops_when_the_client_hangs_up(default_server) -> None:
    body = _flat_png(1000, 1000)
    with default_server.client(token=False) as c:
        before = c.get("/v1/stats").json()
        with pytest.raises(httpx.ReadTimeout), default_server.client(token=False) as quitter:
            quitter.post("/v1/upscale", params={"tile": "8"}, content=body, timeout=0.8)
        stats = _wait_stopped(c, before["batching"]["stopped_calls"])
        assert stats["model_calls"] == before["batching"]["model_calls"]
        responses = _until(lambda: (r := c.get("/v1/stats").json()["responses"]).get("4xx", 0) > 0 and r, 5)
        assert responses.get("5xx", 0) == before["responses"].get("5xx", 0)  # stopped by the hang-up


def test_encoding_in_bands_matches_the_whole_image_formula() -> None:
    """The banded float -> integer conversion (no full-size float copies) gives what the one-expression
    formula gave, across band edges and for values outside [0, 1]."""
    generator = torch.Generator().manual_seed(0)
    rgb = torch.rand(3, 300, 70, generator=generator) * 1.2 - 0.1
    alpha = torch.rand(1, 300, 70, generator=generator)
    for peak, dtype in ((255, np.uint8), (65535, np.uint16)):
        want = (torch.cat([rgb, alpha]).clamp(0, 1) * peak).round().numpy().transpose(1, 2, 0).astype(dtype)
        assert np.array_equal(_quantised([rgb, alpha], peak, dtype), want)
    png8 = encode_image(Picture(rgb=rgb, alpha=alpha, bits=8, gray=False), "png")
    want = (torch.cat([rgb, alpha]).clamp(0, 1) * 255).round().numpy().transpose(1, 2, 0)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png8))), want.astype(np.uint8))


# -- 7. a full disk: 507, and never a phantom job ---------------------------------------------------
@pytest.fixture
def app_client(tmp_path: Path):
    config = ServeConfig(model="bicubic", scale=2, work_dir=str(tmp_path / "work"), max_jobs=2)
    with TestClient(create_app(config, no_auth=True)) as c:
        yield c, tmp_path / "work"


def _no_space(*args, **kwargs) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _wait_job(c, job_id: str):
    """The job's last answer once it is finished (or gone: then the 404)."""

    def finished():
        r = c.get(f"/v1/jobs/{job_id}")
        return r if r.status_code != 200 or r.json()["state"] in ("done", "failed") else None

    return _until(finished)


def test_full_disk_at_state_write_answers_507_and_leaves_no_phantom_job(
    app_client, monkeypatch, tmp_path
) -> None:
    c, work = app_client
    small = clip(tmp_path / "small.mp4", frames=4).read_bytes()
    with monkeypatch.context() as m:
        m.setattr(WorkDir, "write_state", _no_space)
        for _ in range(3):  # more than --max-jobs such moments
            response = c.post("/v1/jobs", content=small)
            assert response.status_code == 507, response.text
            assert "disk is full" in response.json()["error"]
        jobs = c.get("/v1/stats").json()["jobs"]
        assert jobs["queued"] == jobs["running"] == 0
        assert list((work / "jobs").iterdir()) == [] and list((work / "state").iterdir()) == []
        assert [p.name for p in (work / "uploads").iterdir() for p in p.iterdir()] == [".srlib-uploads"]
    accepted = c.post("/v1/jobs", content=small)  # the disk has room again: a job runs as ever
    assert accepted.status_code == 202, accepted.text
    assert _wait_job(c, accepted.json()["id"]).json()["state"] == "done"


def test_full_disk_when_a_job_finishes_drops_it_whole(app_client, monkeypatch, tmp_path) -> None:
    c, work = app_client
    real = WorkDir.write_state

    def full_when_done(self, job_id: str, status: dict) -> None:
        if status["state"] in ("done", "failed"):
            _no_space()
        real(self, job_id, status)

    monkeypatch.setattr(WorkDir, "write_state", full_when_done)
    job_id = c.post("/v1/jobs", content=clip(tmp_path / "small.mp4", frames=4).read_bytes()).json()["id"]
    gone = _wait_job(c, job_id)
    assert gone.status_code == 404  # not "running" forever: the job is gone, files and all
    assert c.get("/v1/stats").json()["jobs"]["dropped"] == 1
    assert list((work / "jobs").iterdir()) == [] and list((work / "state").iterdir()) == []


def test_full_disk_during_upload_answers_507(app_client, monkeypatch, tmp_path) -> None:
    c, work = app_client
    monkeypatch.setattr(WorkDir, "write_chunk", _no_space)
    video = c.post("/v1/jobs", content=clip(tmp_path / "small.mp4", frames=4).read_bytes())
    assert video.status_code == 507 and "disk is full" in video.json()["error"]
    image = c.post("/v1/upscale", content=png())
    assert image.status_code == 507 and "disk is full" in image.json()["error"]  # not "could not decode"
    leftovers = [p.name for folder in (work / "uploads").iterdir() for p in folder.iterdir()]
    assert leftovers == [".srlib-uploads"] and list((work / "jobs").iterdir()) == []
    assert c.get("/v1/stats").json()["jobs"]["receiving"] == 0


# -- 8. DELETE racing GET: 404 or 409, never 500 or a cut connection --------------------------------
def _finished_job(work_dir: Path, size: int) -> tuple[str, bytes]:
    """A finished job on disk as a worker process writes it (any worker answers for any job)."""
    job_id = os.urandom(16).hex()
    folder = work_dir / "jobs" / job_id
    folder.mkdir()
    (folder / ".srlib-job").write_bytes(b"srlib-serve job folder\n")
    data = os.urandom(size)
    (folder / "result.mp4").write_bytes(data)
    state = {"srlib_serve": 1, "id": job_id, "state": "done", "result_name": "result.mp4", "error": None}
    (work_dir / "state" / f"{job_id}.json").write_text(json.dumps(state))
    return job_id, data


def _race(server, job_id: str, data: bytes, start: threading.Barrier, kind: str) -> tuple[str, int]:
    with server.client() as c:
        start.wait()
        if kind == "delete":
            r = c.delete(f"/v1/jobs/{job_id}")
        elif kind == "result":
            r = c.get(f"/v1/jobs/{job_id}/result")
            if r.status_code == 200:
                assert r.content == data  # whole, never cut short
        else:
            r = c.get(f"/v1/jobs/{job_id}")
        return kind, r.status_code


def test_delete_racing_get_result_never_gives_500(server, work_dir: Path) -> None:
    statuses: dict[str, set[int]] = {"delete": set(), "result": set(), "status": set()}
    kinds = ["delete", "result", "status"]
    for _ in range(20):
        job_id, data = _finished_job(work_dir, 2_000_000)
        start = threading.Barrier(3, timeout=10)
        with ThreadPoolExecutor(3) as pool:
            for kind, status in pool.map(lambda k: _race(server, job_id, data, start, k), kinds):  # noqa: B023
                statuses[kind].add(status)
        assert not (work_dir / "jobs" / job_id).exists()
        assert not (work_dir / "state" / f"{job_id}.json").exists()
    assert statuses["delete"] <= {200, 404}
    assert statuses["result"] <= {200, 404, 409} and statuses["status"] <= {200, 404}, statuses
