"""Video jobs on a real server: lifecycle, progress, result, cancel, queue full, bad videos, restart."""

from __future__ import annotations

import json
import time
from pathlib import Path

import av
import pytest

from srlib.serve.workdir import JOB_MARKER
from tests.serve.conftest import AUTH, TOKEN, Server, clip

_JOB_TIMEOUT_S = 60.0


def wait_state(client, job_id: str, states: tuple[str, ...], timeout: float = _JOB_TIMEOUT_S) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/v1/jobs/{job_id}").json()
        if status["state"] in states:
            return status
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} not in {states} after {timeout} s: {status}")


def leftovers(work_dir: Path, job_id: str) -> list[Path]:
    """Everything of the job still on disk (its folder, state and cancel marker)."""
    found = [p for p in (work_dir / "jobs" / job_id, work_dir / "state" / f"{job_id}.json") if p.exists()]
    return found + [p for p in (work_dir / "state").glob(f"{job_id}*") if p not in found]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    made = {
        "small": clip(folder / "small.mp4"),
        "long": clip(folder / "long.mp4", frames=80, fps=30, size=(320, 240)),
        "too_long": clip(folder / "too_long.mp4", frames=32, audio=False),
        "audio_only": clip(folder / "audio.m4a", video=False),
    }
    whole = clip(folder / "whole.mkv", frames=16).read_bytes()
    (folder / "cut.mkv").write_bytes(whole[: int(len(whole) * 0.6)])  # opens; its end is missing
    made["cut_mkv"] = folder / "cut.mkv"
    data = made["small"].read_bytes()
    (folder / "cut.mp4").write_bytes(data[: len(data) // 2])  # the index is gone: cannot even open
    made["cut_mp4"] = folder / "cut.mp4"
    return made


def test_job_lifecycle_progress_result_delete(client, work_dir: Path, clips) -> None:
    submitted = client.post(
        "/v1/jobs", content=clips["small"].read_bytes(), headers={"content-type": "video/mp4"}
    )
    assert submitted.status_code == 202, submitted.text
    job = submitted.json()
    assert submitted.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["state"] in ("queued", "running") and job["input"]["frames"] == 12
    status = wait_state(client, job["id"], ("done", "failed"))
    assert status["state"] == "done", status
    progress = status["progress"]
    assert progress["frames_done"] == progress["frames_total"] == 12 and progress["fraction"] == 1.0
    assert progress["frames_per_second"] > 0 and status["result"] == f"/v1/jobs/{job['id']}/result"
    folder = work_dir / "jobs" / job["id"]
    # the upload is gone, no temp file left; the marker says the folder is the server's own
    assert sorted(p.name for p in folder.iterdir()) == [".srlib-job", "result.mp4"]

    result = client.get(status["result"])
    assert result.status_code == 200 and result.headers["content-type"] == "video/mp4"
    out = folder.parent / "fetched.mp4"
    out.write_bytes(result.content)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        assert len(frames) == 12 and (frames[0].width, frames[0].height) == (64, 48)
        assert len(container.streams.audio) == 1
    out.unlink()

    deleted = client.delete(f"/v1/jobs/{job['id']}")
    assert deleted.status_code == 200 and deleted.json()["state"] == "deleted"
    assert client.get(f"/v1/jobs/{job['id']}").status_code == 404
    assert client.get(status["result"]).status_code == 404
    assert client.delete(f"/v1/jobs/{job['id']}").status_code == 404
    assert leftovers(work_dir, job["id"]) == []


def test_multipart_upload_with_size_and_container(client, work_dir: Path, clips) -> None:
    files = {"file": ("clip.mp4", clips["small"].read_bytes(), "video/mp4")}
    submitted = client.post(
        "/v1/jobs", params={"height": "36", "format": "mkv", "preset": "ultrafast"}, files=files
    )
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]
    assert wait_state(client, job_id, ("done", "failed"))["state"] == "done"
    result = client.get(f"/v1/jobs/{job_id}/result")
    assert result.status_code == 200 and result.headers["content-type"] == "video/x-matroska"
    assert (work_dir / "jobs" / job_id / "result.mkv").is_file()
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 200
    assert leftovers(work_dir, job_id) == []


@pytest.mark.parametrize(
    ("name", "params", "status", "words"),
    [
        ("bytes", {}, 400, "not a video"),
        ("empty", {}, 400, "empty"),
        ("audio_only", {}, 400, "no video stream"),
        ("cut_mp4", {}, 400, "truncated or corrupt"),
        ("too_long", {}, 413, "--max-video-seconds"),
        ("small", {"speed": "fast"}, 400, "Unknown query parameter 'speed'"),
        ("small", {"crf": "99"}, 400, "crf must be"),
        ("small", {"format": "avi"}, 400, "Unknown video format"),
        ("small", {"outscale": "0"}, 400, "outscale must be between"),
        ("small", {"tile": "5"}, 400, "Tile size 5"),
    ],
)
def test_bad_videos_get_4xx_and_leave_nothing(
    client, work_dir: Path, clips, name, params, status, words
) -> None:
    given = {"bytes": b"definitely not a video" * 10, "empty": b""}
    body = given[name] if name in given else clips[name].read_bytes()
    before = set((work_dir / "jobs").iterdir())
    response = client.post("/v1/jobs", params=params, content=body)
    assert response.status_code == status, response.text
    assert words in response.json()["error"]
    assert set((work_dir / "jobs").iterdir()) == before


def test_failed_job_leaves_no_media(client, work_dir: Path, clips) -> None:
    submitted = client.post("/v1/jobs", content=clips["cut_mkv"].read_bytes())
    assert submitted.status_code == 202, submitted.text  # the header is fine: the end is missing
    job_id = submitted.json()["id"]
    status = wait_state(client, job_id, ("done", "failed"))
    assert status["state"] == "failed" and "truncated" in status["error"]
    assert str(work_dir) not in status["error"]  # no server path in what the client sees
    assert not (work_dir / "jobs" / job_id).exists()  # no upload, no partial result
    refused = client.get(f"/v1/jobs/{job_id}/result")
    assert refused.status_code == 409 and "failed" in refused.json()["error"]
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 200
    assert leftovers(work_dir, job_id) == []


def test_queue_full_then_cancel_queued_and_running(client, work_dir: Path, clips) -> None:
    slow = {"preset": "veryslow"}
    running = client.post("/v1/jobs", params=slow, content=clips["long"].read_bytes()).json()["id"]
    wait_state(client, running, ("running",))
    queued = client.post("/v1/jobs", content=clips["small"].read_bytes())
    assert queued.status_code == 202 and queued.json()["state"] == "queued"
    full = client.post("/v1/jobs", content=clips["small"].read_bytes())
    assert full.status_code == 503 and "queue is full" in full.json()["error"]
    assert 1 <= int(full.headers["retry-after"]) <= 300

    gone = client.delete(f"/v1/jobs/{queued.json()['id']}")
    assert gone.status_code == 200 and leftovers(work_dir, queued.json()["id"]) == []

    assert client.get(f"/v1/jobs/{running}").json()["state"] == "running"
    cancelled_before = client.get("/v1/stats").json()["jobs"]["cancelled"]
    started = time.monotonic()
    stopped = client.delete(f"/v1/jobs/{running}")
    assert stopped.status_code == 200 and stopped.json()["state"] == "deleted"
    assert time.monotonic() - started < 10
    assert leftovers(work_dir, running) == []
    assert client.get(f"/v1/jobs/{running}").status_code == 404
    jobs = client.get("/v1/stats").json()["jobs"]
    assert jobs["cancelled"] == cancelled_before + 1 and jobs["running"] == jobs["queued"] == 0


def test_restart_and_two_workers(tmp_path: Path, clips) -> None:
    """A crash mid-job leaves a hidden temporary result and a 'running' state: a restart removes them.

    Then two worker processes answer for each other's jobs (one server for both: starting one is slow).
    """
    work = tmp_path / "work"
    stale = "0123456789abcdef0123456789abcdef"
    (work / "jobs" / stale).mkdir(parents=True)
    (work / "jobs" / stale / JOB_MARKER).write_bytes(b"srlib-serve job folder\n")  # as the server tags it
    (work / "jobs" / stale / ".result.mp4.abc123.tmp").write_bytes(b"half a video")
    (work / "state").mkdir()
    (work / "state" / f"{stale}.json").write_text(
        json.dumps({"srlib_serve": 1, "id": stale, "state": "running"})
    )
    srv = Server(
        ["--model", "bicubic", "--scale", "2", "--workers", "2", "--work-dir", str(work)],
        tmp_path / "server.log",
        env={"SRLIB_SERVE_TOKEN": TOKEN},  # the token from the environment this time
    )
    try:
        with srv.client() as c:
            assert c.get(f"/v1/jobs/{stale}").status_code == 404
            assert not (work / "jobs" / stale).exists() and not (work / "state" / f"{stale}.json").exists()
            assert c.get("/v1/model", headers={"Authorization": "Bearer wrong"}).status_code == 401
            assert c.get("/v1/model").json()["workers"] == 2
            job_id = c.post("/v1/jobs", content=clips["small"].read_bytes()).json()["id"]
        pids, state = set(), "queued"
        deadline = time.monotonic() + _JOB_TIMEOUT_S
        while time.monotonic() < deadline and (len(pids) < 2 or state != "done"):
            with srv.client() as c:  # a new connection each time: either worker may answer
                status = c.get(f"/v1/jobs/{job_id}")
                assert status.status_code == 200
                state = status.json()["state"]
                pids.add(c.get("/health").json()["pid"])
            time.sleep(0.05)
        assert len(pids) == 2 and state == "done"
        for _ in range(4):
            with srv.client() as c:
                result = c.get(f"/v1/jobs/{job_id}/result")
                assert result.status_code == 200
        with srv.client() as c:
            assert c.delete(f"/v1/jobs/{job_id}").status_code == 200
        assert leftovers(work, job_id) == []
    finally:
        assert srv.stop() == 0
    # each worker removed its upload folder on the way out, and the server its lock and the folders it
    # made (jobs/ and state/ were there before it: kept, empty)
    assert sorted(p.name for p in work.iterdir()) == ["jobs", "state"]
    assert list((work / "jobs").iterdir()) == list((work / "state").iterdir()) == []


def test_auth_header_is_checked_on_jobs(server, clips) -> None:
    with server.client(token=False) as c:
        response = c.post(
            "/v1/jobs", content=clips["small"].read_bytes(), headers={"Authorization": "Basic x"}
        )
        assert response.status_code == 401
    with server.client() as c:
        assert c.get("/v1/jobs/not-an-id", headers=AUTH).status_code == 404
