"""Image endpoints of a real server: health, model, stats, upscale, the token, bad input, batching."""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

import srlib
from tests.serve.conftest import AUTH, encoded, png, png_bomb


def _image(response) -> Image.Image:
    return Image.open(io.BytesIO(response.content))


def test_health_needs_no_token_and_the_rest_do(server) -> None:
    with server.client(token=False) as anonymous:
        health = anonymous.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        for method, path in [
            ("GET", "/v1/model"),
            ("GET", "/v1/stats"),
            ("POST", "/v1/upscale"),
            ("POST", "/v1/jobs"),
            ("GET", "/v1/jobs/0123456789abcdef0123456789abcdef"),
            ("DELETE", "/v1/jobs/0123456789abcdef0123456789abcdef"),
            ("GET", "/openapi.json"),
        ]:
            response = anonymous.request(method, path, content=png() if method == "POST" else None)
            assert response.status_code == 401, (method, path)
            assert "Bearer" in response.json()["error"]
        wrong = anonymous.get("/v1/model", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"


def test_model_and_openapi(client) -> None:
    info = client.get("/v1/model").json()
    assert info["name"] == "bicubic" and info["scale"] == 2 and info["params"] == 0
    assert info["dtype"] in ("float32", "bfloat16", "float16") and info["device"] == "cpu"
    assert info["srlib_version"] == srlib.__version__
    spec = client.get("/openapi.json").json()
    assert {"/health", "/v1/model", "/v1/upscale", "/v1/jobs", "/v1/jobs/{job_id}"} <= set(spec["paths"])
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize(
    ("body", "headers", "fmt"),
    [
        (png(), {"content-type": "image/png"}, "PNG"),
        (encoded("JPEG"), {"content-type": "image/jpeg"}, "JPEG"),
        (encoded("WEBP"), {}, "WEBP"),
    ],
)
def test_upscale_raw_body_keeps_the_format(client, body: bytes, headers: dict, fmt: str) -> None:
    response = client.post("/v1/upscale", content=body, headers=headers)
    assert response.status_code == 200, response.text[:300]
    out = _image(response)
    assert out.format == fmt and out.size == (64, 48)
    assert int(response.headers["x-batch-size"]) >= 1


def test_upscale_multipart_size_options_and_alpha(client) -> None:
    files = {"file": ("photo.png", png(), "image/png")}
    response = client.post("/v1/upscale", params={"outscale": "3", "format": "jpeg"}, files=files)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg" and _image(response).size == (96, 72)
    sized = client.post("/v1/upscale", params={"width": "50", "height": "20"}, content=png())
    assert _image(sized).size == (50, 20)
    tall = client.post("/v1/upscale", params={"height": "60"}, content=png())
    assert _image(tall).size[1] == 60
    tiled = client.post("/v1/upscale", params={"tile": "16"}, content=png(40, 30))
    assert tiled.status_code == 200 and _image(tiled).size == (80, 60)
    rgba = client.post("/v1/upscale", content=png(mode="RGBA"))
    assert _image(rgba).mode == "RGBA" and _image(rgba).size == (64, 48)
    gray = client.post("/v1/upscale", params={"format": "webp"}, content=png(mode="L"))
    assert gray.status_code == 200 and _image(gray).size == (64, 48)


@pytest.mark.parametrize(
    ("params", "body", "status", "words"),
    [
        ({}, b"this is not an image", 400, "Could not decode"),
        ({}, png(64, 48, noise=True)[:4000], 400, "truncated"),
        ({}, b"", 400, "empty"),
        ({}, png_bomb(), 413, "100000x100000"),
        ({}, png(500, 500), 413, "limit of 200,000 pixels"),
        ({}, os.urandom(300_000), 413, "larger than this server's limit"),
        ({"outscale": "16"}, png(300, 200), 413, "--max-output-pixels"),
        ({"colour": "red"}, png(), 400, "Unknown query parameter 'colour'"),
        ({"outscale": "-2"}, png(), 400, "outscale must be between"),
        ({"outscale": "nan"}, png(), 400, "outscale must be between"),
        ({"outscale": "two"}, png(), 400, "outscale must be a number"),
        ({"outscale": "2", "height": "10"}, png(), 400, "not outscale with a size"),
        ({"width": "10"}, png(), 400, "width needs height"),
        ({"format": "gif"}, png(), 400, "Unknown format"),
        ({"tile": "3"}, png(), 400, "Tile size 3"),
        ({"format": "jpeg"}, png(mode="RGBA"), 400, "alpha channel"),
        ({"alpha": "magic"}, png(), 400, "alpha must be"),
    ],
)
def test_bad_image_requests_get_4xx_json(client, params: dict, body: bytes, status: int, words: str) -> None:
    response = client.post("/v1/upscale", params=params, content=body)
    assert response.status_code == status, response.text[:300]
    assert words in response.json()["error"]


def test_bad_multipart_and_unknown_routes(client) -> None:
    empty_form = client.post("/v1/upscale", files={"outscale": (None, "2")})
    assert empty_form.status_code == 400 and "query string" in empty_form.json()["error"]
    broken = client.post(
        "/v1/upscale",
        content=b"--xx\r\nnonsense",
        headers={"content-type": "multipart/form-data; boundary=xx"},
    )
    assert 400 <= broken.status_code < 500 and "error" in broken.json()
    assert client.get("/v1/nothing").status_code == 404 and "error" in client.get("/v1/nothing").json()
    assert client.get("/v1/model", params={"verbose": "1"}).status_code == 400
    assert client.put("/v1/model").status_code == 405


def test_concurrent_requests_all_succeed_and_report_their_batch(server, client) -> None:
    """Whether requests meet in one batch depends on timing (a fast model may finish each before the
    next arrives); that grouping is tested deterministically in test_batcher.py."""
    body = png(48, 32)

    def one(_: int) -> tuple[int, int]:
        with server.client() as c:
            r = c.post("/v1/upscale", content=body)
            return r.status_code, int(r.headers.get("x-batch-size", 0))

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(8)))
    assert all(status == 200 for status, _ in results)
    assert all(1 <= size <= 8 for _, size in results), results
    stats = client.get("/v1/stats").json()
    assert stats["batching"]["max_batch_seen"] >= max(size for _, size in results)
    assert stats["responses"].get("5xx", 0) == 0
    assert client.get("/health", headers=AUTH).status_code == 200  # still alive after every bad request
