"""Video models on a real server: jobs stream through a window or a carried state, images are refused.

Each server serves a seeded, untrained ``vsr_window`` or ``vsr_recurrent`` x2 from a weight file, so
the job's result can be checked frame by frame against ``upscale_video`` run here on the same file.
"""

from __future__ import annotations

import time
from pathlib import Path

import av
import numpy as np
import pytest
import torch

import srlib
from srlib.inference.video import upscale_video
from tests.serve.conftest import TOKEN, Server, clip, png
from tests.serve.test_jobs import leftovers, wait_state


def frames_of(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(container.streams.video[0])])


@pytest.fixture(scope="module", params=["vsr_window", "vsr_recurrent"])
def video_server(request, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp(request.param)
    torch.manual_seed(0)
    weights = srlib.save_model(srlib.create_model(request.param, scale=2), folder / "net.safetensors")
    work = folder / "work"
    args = [
        "--model", str(weights), "--work-dir", str(work), "--dtype", "fp32",
        "--job-batch-size", "4", "--max-jobs", "2", "--job-workers", "1",
    ]  # fmt: skip
    srv = Server(args, folder / "server.log", env={"SRLIB_SERVE_TOKEN": TOKEN})
    yield request.param, weights, work, srv
    assert srv.stop() == 0


def test_video_model_runs_jobs_as_upscale_video_does(video_server, tmp_path: Path) -> None:
    name, weights, work, srv = video_server
    source = clip(tmp_path / "in.mp4", frames=12, size=(32, 24))
    with srv.client() as c:
        info = c.get("/v1/model").json()
        assert info["video_model"] is True and info["scale"] == 2
        assert (info["recurrent"], info["frames"]) == ((True, 1) if name == "vsr_recurrent" else (False, 5))

        refused = c.post("/v1/upscale", content=png(), headers={"content-type": "image/png"})
        assert refused.status_code == 400
        assert "video model" in refused.json()["error"] and "/v1/jobs" in refused.json()["error"]

        job = c.post("/v1/jobs", params={"crf": "0"}, content=source.read_bytes()).json()
        status = wait_state(c, job["id"], ("done", "failed"))
        assert status["state"] == "done", status
        assert status["progress"]["frames_done"] == status["progress"]["frames_total"] == 12
        served = tmp_path / "served.mp4"
        served.write_bytes(c.get(status["result"]).content)
        assert c.delete(f"/v1/jobs/{job['id']}").status_code == 200
    assert leftovers(work, job["id"]) == []

    local = tmp_path / "local.mp4"
    upscale_video(source, local, srlib.load_model(weights), batch_size=4, crf=0, dtype="fp32", progress=False)
    got, want = frames_of(served), frames_of(local)
    assert got.shape == want.shape == (12, 48, 64, 3)
    diff = np.abs(got.astype(int) - want.astype(int))
    assert diff.max() <= 2 and diff.mean() < 0.05  # thread counts differ: float rounding only
    with av.open(str(served)) as container:
        assert len(container.streams.audio) == 1


def test_video_model_job_is_cancelled_mid_stream(video_server, tmp_path: Path) -> None:
    _, _, work, srv = video_server
    long = clip(tmp_path / "long.mp4", frames=80, fps=30, size=(320, 240))
    with srv.client() as c:
        job_id = c.post("/v1/jobs", params={"preset": "veryslow"}, content=long.read_bytes()).json()["id"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # cancel once frames are streaming, before the end
            status = wait_state(c, job_id, ("running", "done", "failed"))
            if status["state"] != "running" or status["progress"]["frames_done"] > 0:
                break
            time.sleep(0.05)
        assert status["state"] == "running", status
        started = time.monotonic()
        assert c.delete(f"/v1/jobs/{job_id}").status_code == 200
        assert time.monotonic() - started < 10
        assert c.get(f"/v1/jobs/{job_id}").status_code == 404
        assert c.get("/v1/stats").json()["jobs"]["cancelled"] >= 1
    assert leftovers(work, job_id) == []
