"""Downloads against a local HTTP server on 127.0.0.1: verified, atomic, idempotent, safe extraction."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import socket
import tarfile
import threading
import zipfile
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from srlib.data import archive, catalogue, download
from srlib.data.catalogue import Checksum, DatasetSpec, Resource
from srlib.data.download import (
    ChecksumError,
    DownloadError,
    UnsafeArchiveError,
    default_data_dir,
    download_url,
    extract_archive,
    prepare_dataset,
    resolve_dataset_dir,
    resolve_dataset_dirs,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
TIMEOUT = 5.0


# ----------------------------------------------------------------------------- the local server
@dataclass
class _Route:
    body: bytes
    cut_after: int | None = None  # send this many bytes, then close (Content-Length says len(body))
    ranges: bool = True
    length: bool = True  # send Content-Length (False: the body just ends when the connection closes)
    chunked: bool = False  # HTTP/1.1 chunked transfer encoding (ends with a zero-length chunk)
    range_shift: int = 0  # answer a Range request with partial content starting this many bytes later


@dataclass
class ArchiveServer:
    """Serves registered byte strings; records every request (path, Range header)."""

    base_url: str
    routes: dict[str, _Route] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, path: str, body: bytes, *, cut_after: int | None = None, ranges: bool = True, **kw) -> str:
        self.routes[path] = _Route(body, cut_after, ranges, **kw)
        return self.base_url + path


def _make_handler(server_state: ArchiveServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, format, *args):  # keep test output quiet
            pass

        def do_GET(self):
            range_header = self.headers.get("Range")
            with server_state.lock:
                server_state.requests.append((self.path, range_header))
            route = server_state.routes.get(self.path)
            if route is None:
                self.send_error(404, "not here")
                return
            body, start, status = route.body, 0, 200
            if range_header and route.ranges and route.cut_after is None:
                start = int(range_header.removeprefix("bytes=").split("-")[0]) + route.range_shift
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
            if route.chunked:
                self.protocol_version = "HTTP/1.1"
            self.send_response(status)
            if route.chunked:
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Connection", "close")
            elif route.length:
                self.send_header("Content-Length", str(len(body) - start))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            self.end_headers()
            end = len(body) if route.cut_after is None else route.cut_after
            if route.chunked:
                data = body[start:end]
                for i in range(0, len(data), 1000):
                    piece = data[i : i + 1000]
                    self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                if route.cut_after is None:
                    self.wfile.write(b"0\r\n\r\n")
            else:
                self.wfile.write(body[start:end])
            self.wfile.flush()
            self.close_connection = True

    return Handler


@pytest.fixture
def archive_server():
    """A threaded HTTP server on an ephemeral 127.0.0.1 port, shut down after the test."""
    state = ArchiveServer(base_url="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(state))
    httpd.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _closed_port_url(path: str = "/x.zip") -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


# ----------------------------------------------------------------------------- tiny archives
def _png(seed: int, size: int) -> bytes:
    y, x = np.mgrid[0:size, 0:size]
    img = np.stack([(x * 16 + seed) % 256, (y * 16 + 3 * seed) % 256, ((x + y) * 8 + seed) % 256], -1)
    buf = io.BytesIO()
    Image.fromarray(img.astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


HR_FILES = {"0001.png": _png(1, 8), "0002.png": _png(2, 8)}
LR_FILES = {"0001x2.png": _png(1, 4), "0002x2.png": _png(2, 4)}


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data)
    return buf.getvalue()


def _tar(members: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tf.addfile(m)
            else:
                info = tarfile.TarInfo(m[0])
                info.size = len(m[1])
                tf.addfile(info, io.BytesIO(m[1]))
    return buf.getvalue()


def _sha(data: bytes) -> Checksum:
    return Checksum("sha256", hashlib.sha256(data).hexdigest())


def _register(monkeypatch, name: str, resources: list[Resource], layout: dict) -> DatasetSpec:
    spec = DatasetSpec(name=name, folder=name, resources=tuple(resources), layout=layout)
    monkeypatch.setitem(catalogue._REGISTRY, name, spec)
    return spec


def _tiny_dataset(monkeypatch, server: ArchiveServer, *, checksum="good", name="TinySR") -> DatasetSpec:
    hr = _zip({f"Tiny_HR/{k}": v for k, v in HR_FILES.items()})
    lr = _tar([(f"Tiny_LR/X2/{k}", v) for k, v in LR_FILES.items()], mode="w:gz")
    hr_sum = _sha(hr) if checksum == "good" else (None if checksum is None else _sha(b"something else"))
    return _register(
        monkeypatch,
        name,
        [
            Resource(server.add(f"/{name}/hr.zip", hr), "tiny_hr.zip", hr_sum, len(hr), ("train/hr",)),
            Resource(
                server.add(f"/{name}/lr.tar.gz", lr), "tiny_lr.tar.gz", _sha(lr), len(lr), ("train/lr_x2",)
            ),
        ],
        {"train/hr": ("Tiny_HR",), "train/lr_x2": ("Tiny_LR/X2",)},
    )


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# ----------------------------------------------------------------------------- tests
def test_default_data_dir_env_and_home(monkeypatch, tmp_path):
    monkeypatch.setenv("SRLIB_DATA_DIR", str(tmp_path / "d"))
    assert default_data_dir() == tmp_path / "d"
    monkeypatch.delenv("SRLIB_DATA_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_data_dir() == tmp_path / ".cache" / "srlib" / "datasets"


def test_good_archives_extract_and_are_idempotent(archive_server, monkeypatch, tmp_path):
    spec = _tiny_dataset(monkeypatch, archive_server)
    root = prepare_dataset("tinysr", tmp_path, progress=True, timeout=TIMEOUT)
    assert root == tmp_path / "TinySR"
    hr_dir = spec.image_dir(root, "train", "hr")
    lr_dir = spec.image_dir(root, "train", "lr", 2)
    assert sorted(p.name for p in hr_dir.iterdir()) == sorted(HR_FILES)
    assert sorted(p.name for p in lr_dir.iterdir()) == sorted(LR_FILES)
    for name, data in HR_FILES.items():
        assert (hr_dir / name).read_bytes() == data
    assert np.asarray(Image.open(lr_dir / "0002x2.png")).shape == (4, 4, 3)
    # markers written, archives removed, no temporary folders or .part files left
    markers = sorted(p.name for p in (root / ".srlib").iterdir())
    assert markers == ["tiny_hr.zip.json", "tiny_lr.tar.gz.json"]
    info = json.loads((root / ".srlib" / "tiny_hr.zip.json").read_text())
    assert info["verified"] == "published" and info["url"].endswith("/TinySR/hr.zip")
    assert _files(tmp_path / "downloads") == []
    assert not list(tmp_path.glob(".*extract*"))
    n_requests = len(archive_server.requests)
    assert n_requests == 2

    # second call: no request at all, same result
    assert prepare_dataset("TinySR", tmp_path, progress=False, timeout=TIMEOUT) == root
    assert resolve_dataset_dir("TinySR", data_dir=tmp_path, kind="lr", scale=2) == lr_dir
    assert resolve_dataset_dir("TinySR", data_dir=tmp_path, split="train") == hr_dir
    assert len(archive_server.requests) == n_requests


def test_select_only_one_part(archive_server, monkeypatch, tmp_path):
    spec = _tiny_dataset(monkeypatch, archive_server)
    out = resolve_dataset_dir("TinySR", data_dir=tmp_path, download=True, progress=False, timeout=TIMEOUT)
    assert out == spec.image_dir(tmp_path / "TinySR", "train", "hr")
    assert [p for p, _ in archive_server.requests] == ["/TinySR/hr.zip"]  # the LR archive was not fetched
    with pytest.raises(ValueError, match="x2"):
        prepare_dataset("TinySR", tmp_path, kind="lr", scale=3, progress=False)


def test_wrong_checksum_leaves_nothing(archive_server, monkeypatch, tmp_path):
    _tiny_dataset(monkeypatch, archive_server, checksum="bad")
    with pytest.raises(ChecksumError, match=r"sha256 is [0-9a-f]{64}, expected") as err:
        prepare_dataset("TinySR", tmp_path, progress=False, timeout=TIMEOUT)
    assert "/TinySR/hr.zip" in str(err.value)
    assert _files(tmp_path) == []
    assert not (tmp_path / "TinySR").exists()
    with pytest.raises(FileNotFoundError):
        resolve_dataset_dir("TinySR", data_dir=tmp_path)


@pytest.mark.parametrize(
    ("case", "member"),
    [
        ("zip-dotdot", "../evil.png"),
        ("zip-backslash-dotdot", "Tiny_HR\\..\\..\\evil.png"),
        ("tar-absolute", "/tmp/srlib-evil.png"),
        ("tar-dotdot", "Tiny_HR/../../evil.png"),
        ("tar-symlink", "Tiny_HR/link"),
        ("tar-symlink-absolute", "Tiny_HR/abs"),
        ("tar-hardlink", "Tiny_HR/hard"),
        ("zip-symlink", "Tiny_HR/ziplink"),
    ],
)
def test_escaping_members_are_refused(archive_server, monkeypatch, tmp_path, case, member):
    good = [(f"Tiny_HR/{k}", v) for k, v in HR_FILES.items()]
    if case.startswith("zip-symlink"):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for name, data in good:
                zf.writestr(name, data)
            info = zipfile.ZipInfo(member)
            info.external_attr = (0o120777 << 16) | 0x20
            zf.writestr(info, "../../outside")
        body, fname = buf.getvalue(), "evil.zip"
    elif case.startswith("zip"):
        body, fname = _zip({**dict(good), member: b"pwned"}), "evil.zip"
    else:
        extra: tarfile.TarInfo | tuple[str, bytes]
        if case == "tar-symlink":
            extra = tarfile.TarInfo(member)
            extra.type, extra.linkname = tarfile.SYMTYPE, "../../outside"
        elif case == "tar-symlink-absolute":
            extra = tarfile.TarInfo(member)
            extra.type, extra.linkname = tarfile.SYMTYPE, "/etc"
        elif case == "tar-hardlink":
            extra = tarfile.TarInfo(member)
            extra.type, extra.linkname = tarfile.LNKTYPE, "../outside.txt"
        else:
            extra = (member, b"pwned")
        body, fname = _tar([*good, extra]), "evil.tar"
        with tarfile.open(fileobj=io.BytesIO(body)) as tf:  # the evil name really is in the archive
            assert member in tf.getnames()
    url = archive_server.add(f"/{fname}", body)
    _register(
        monkeypatch,
        "TinySR",
        [Resource(url, fname, _sha(body), None, ("train/hr",))],
        {"train/hr": ("Tiny_HR",)},
    )

    with pytest.raises(UnsafeArchiveError) as err:
        prepare_dataset("TinySR", tmp_path / "data", progress=False, timeout=TIMEOUT)
    assert repr(member) in str(err.value)  # the message names the member
    assert "deleted" in str(err.value)
    assert _files(tmp_path) == []  # no archive, no extracted file, nothing outside
    assert not (tmp_path / "data" / "TinySR").exists()
    assert not Path("/tmp/srlib-evil.png").exists()


def test_connection_cut_then_resume(archive_server, monkeypatch, tmp_path):
    body = _zip({f"Tiny_HR/{k}": v for k, v in HR_FILES.items()}) + b"\0" * 4096  # padding: a longer body
    url = archive_server.add("/cut.zip", body, cut_after=len(body) // 2)
    dest = tmp_path / "cut.zip"
    with pytest.raises(DownloadError, match=r"closed after \d+ of \d+ bytes") as err:
        download_url(url, dest, _sha(body), progress=False, timeout=TIMEOUT)
    assert url in str(err.value) and "offline" in str(err.value)
    assert not dest.exists()  # nothing that looks complete
    part = tmp_path / "cut.zip.part"
    assert 0 < part.stat().st_size < len(body)

    archive_server.add("/cut.zip", body)  # the server recovers; the next call resumes
    assert download_url(url, dest, _sha(body), progress=False, timeout=TIMEOUT) == dest
    assert dest.read_bytes() == body and not part.exists()
    assert archive_server.requests[-1] == ("/cut.zip", f"bytes={len(body) // 2}-")


def test_resume_when_server_ignores_ranges(archive_server, tmp_path):
    body = bytes(range(256)) * 8
    url = archive_server.add("/norange.bin", body, ranges=False)
    (tmp_path / "f.bin.part").write_bytes(b"garbage-prefix")
    download_url(
        url, tmp_path / "f.bin", f"sha256:{hashlib.sha256(body).hexdigest()}", progress=False, timeout=TIMEOUT
    )
    assert (tmp_path / "f.bin").read_bytes() == body


def test_corrupt_resumed_part_is_deleted(archive_server, tmp_path):
    body = bytes(range(256)) * 8
    url = archive_server.add("/b.bin", body)
    part = tmp_path / "b.bin.part"
    part.write_bytes(b"X" * 100)  # a wrong prefix: resumed, then fails the checksum
    with pytest.raises(ChecksumError, match="deleted"):
        download_url(url, tmp_path / "b.bin", _sha(body), progress=False, timeout=TIMEOUT)
    assert not part.exists() and not (tmp_path / "b.bin").exists()
    download_url(url, tmp_path / "b.bin", _sha(body), progress=False, timeout=TIMEOUT)  # from scratch now
    assert (tmp_path / "b.bin").read_bytes() == body


def test_http_errors_and_existing_files(archive_server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404") as err:
        download_url(
            archive_server.base_url + "/missing.zip", tmp_path / "m.zip", progress=False, timeout=TIMEOUT
        )
    assert "/missing.zip" in str(err.value)
    # an existing file is verified and used without any request
    existing = tmp_path / "have.bin"
    existing.write_bytes(b"abc")
    n = len(archive_server.requests)
    assert download_url(archive_server.base_url + "/nope", existing, _sha(b"abc"), progress=False) == existing
    with pytest.raises(ChecksumError, match="Delete it"):
        download_url(archive_server.base_url + "/nope", existing, _sha(b"abd"), progress=False)
    assert len(archive_server.requests) == n and existing.read_bytes() == b"abc"


def test_network_failure_names_url_and_offline_way(monkeypatch, tmp_path):
    url = _closed_port_url("/hr.zip")
    _register(
        monkeypatch,
        "TinySR",
        [Resource(url, "hr.zip", _sha(b"x"), None, ("train/hr",))],
        {"train/hr": ("Tiny_HR",)},
    )
    with pytest.raises(DownloadError) as err:
        resolve_dataset_dir("TinySR", data_dir=tmp_path, download=True, progress=False, timeout=TIMEOUT)
    msg = str(err.value)
    assert url in msg and "root=" in msg and str(tmp_path / "downloads" / "hr.zip") in msg
    assert _files(tmp_path) == []


def test_offline_archive_placed_by_hand_needs_no_network(monkeypatch, tmp_path):
    body = _zip({f"Tiny_HR/{k}": v for k, v in HR_FILES.items()})
    _register(
        monkeypatch,
        "TinySR",
        [Resource(_closed_port_url("/hr.zip"), "hr.zip", _sha(body), len(body), ("train/hr",))],
        {"train/hr": ("Tiny_HR",)},
    )
    (tmp_path / "downloads").mkdir()
    (tmp_path / "downloads" / "hr.zip").write_bytes(body)
    out = resolve_dataset_dir("TinySR", data_dir=tmp_path, download=True, progress=False, timeout=TIMEOUT)
    assert sorted(p.name for p in out.iterdir()) == sorted(HR_FILES)


def test_not_present_offline_message(archive_server, monkeypatch, tmp_path):
    spec = _tiny_dataset(monkeypatch, archive_server)
    with pytest.raises(FileNotFoundError) as err:
        resolve_dataset_dir("TinySR", data_dir=tmp_path, kind="lr", scale=2)
    msg = str(err.value)
    assert spec.resources[1].url in msg  # the URL to fetch
    assert str(tmp_path / "TinySR" / "Tiny_LR" / "X2") in msg  # the expected folder
    assert "root=" in msg and "download=True" in msg
    assert archive_server.requests == []


def test_root_copy_needs_no_network(monkeypatch, tmp_path):
    _register(
        monkeypatch,
        "TinySR",
        [Resource(_closed_port_url("/hr.zip"), "hr.zip", _sha(b"x"), None, ("train/hr",))],
        {"train/hr": ("Tiny_HR",)},
    )
    copy = tmp_path / "copy"
    (copy / "Tiny_HR").mkdir(parents=True)
    for k, v in HR_FILES.items():
        (copy / "Tiny_HR" / k).write_bytes(v)
    assert resolve_dataset_dir("TinySR", root=copy, download=True) == copy / "Tiny_HR"
    # a root that directly holds the HR images is accepted too
    assert resolve_dataset_dir("TinySR", root=copy / "Tiny_HR") == copy / "Tiny_HR"
    with pytest.raises(FileNotFoundError, match="does not exist") as err:
        resolve_dataset_dir("TinySR", root=tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(err.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no") as err:
        resolve_dataset_dir("TinySR", root=tmp_path / "empty")
    assert str(tmp_path / "empty") in str(err.value)


def test_root_real_set5_copy():
    set5 = SHARED / "data" / "Set5"
    if not set5.is_dir():
        pytest.skip(f"shared data not found at {set5}")
    assert resolve_dataset_dir("Set5", root=set5) == set5
    with pytest.raises(FileNotFoundError, match="LR_bicubic/X4"):
        resolve_dataset_dir("Set5", root=set5, kind="lr", scale=4)


def test_unknown_checksum_is_recorded_then_enforced(archive_server, monkeypatch, tmp_path, caplog):
    _tiny_dataset(monkeypatch, archive_server, checksum=None)
    with caplog.at_level(logging.WARNING, logger="srlib.data.download"):
        prepare_dataset("TinySR", tmp_path, progress=False, split="train", kind="hr", timeout=TIMEOUT)
    assert any("could not be verified" in r.getMessage() for r in caplog.records)
    manifest = json.loads((tmp_path / "recorded-checksums.json").read_text())
    hr_url = archive_server.base_url + "/TinySR/hr.zip"
    assert (
        manifest[hr_url]["sha256"] == hashlib.sha256(archive_server.routes["/TinySR/hr.zip"].body).hexdigest()
    )
    # the dataset is deleted, and the server now serves different bytes: refused
    import shutil

    shutil.rmtree(tmp_path / "TinySR")
    archive_server.add("/TinySR/hr.zip", _zip({"Tiny_HR/0001.png": _png(9, 8)}))
    with pytest.raises(ChecksumError, match="changed"):
        prepare_dataset("TinySR", tmp_path, progress=False, split="train", kind="hr", timeout=TIMEOUT)
    assert not (tmp_path / "TinySR").exists()


def test_failure_during_extraction_leaves_nothing(archive_server, monkeypatch, tmp_path):
    spec = _tiny_dataset(monkeypatch, archive_server)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # stands in for a kill after the archive was unpacked to the temp folder

    monkeypatch.setattr(archive, "_merge_into", killed)
    prepare_dataset("TinySR", tmp_path, progress=False, kind="hr", timeout=TIMEOUT)  # new folder: one rename
    with pytest.raises(KeyboardInterrupt):  # second archive merges into the existing folder
        prepare_dataset("TinySR", tmp_path, progress=False, kind="lr", timeout=TIMEOUT)
    assert not spec.image_dir(tmp_path / "TinySR", "train", "lr", 2).exists()
    assert not list(tmp_path.glob(".TinySR.extract-*"))
    assert not (tmp_path / "TinySR" / ".srlib" / "tiny_lr.tar.gz.json").exists()


def test_half_extracted_without_marker_is_not_used(archive_server, monkeypatch, tmp_path):
    spec = _tiny_dataset(monkeypatch, archive_server)
    # what a kill between the rename and the marker (or a stale temp folder) leaves behind
    partial = tmp_path / "TinySR" / "Tiny_HR"
    partial.mkdir(parents=True)
    (partial / "0001.png").write_bytes(HR_FILES["0001.png"][:20])
    stale = tmp_path / ".TinySR.extract-abc123"
    stale.mkdir()
    (stale / "junk.png").write_bytes(b"junk")
    with pytest.raises(FileNotFoundError):
        resolve_dataset_dir("TinySR", data_dir=tmp_path)  # no marker: not treated as complete
    out = resolve_dataset_dir("TinySR", data_dir=tmp_path, download=True, progress=False, timeout=TIMEOUT)
    assert out == spec.image_dir(tmp_path / "TinySR", "train", "hr")
    assert (out / "0001.png").read_bytes() == HR_FILES["0001.png"]
    assert not stale.exists()


def test_union_dataset_dirs(archive_server, monkeypatch, tmp_path):
    _tiny_dataset(monkeypatch, archive_server, name="TinyA")
    _tiny_dataset(monkeypatch, archive_server, name="TinyB")
    union = DatasetSpec(
        name="TinyAB",
        folder="",
        components=("TinyA", "TinyB"),
        component_splits={"train": ("TinyA", "TinyB")},
    )
    monkeypatch.setitem(catalogue._REGISTRY, "TinyAB", union)
    with pytest.raises(ValueError, match="resolve_dataset_dirs"):
        resolve_dataset_dir("TinyAB", data_dir=tmp_path)
    dirs = resolve_dataset_dirs("TinyAB", data_dir=tmp_path, download=True, progress=False, timeout=TIMEOUT)
    assert dirs == [tmp_path / "TinyA" / "Tiny_HR", tmp_path / "TinyB" / "Tiny_HR"]
    assert prepare_dataset("TinyAB", tmp_path, progress=False) == tmp_path
    assert union.image_dirs(tmp_path) == dirs


def test_extract_archive_refuses_corrupt_file(tmp_path):
    bad = tmp_path / "page.zip"
    bad.write_bytes(b"<html>Service unavailable</html>")
    with pytest.raises(UnsafeArchiveError, match="Cannot read archive"):
        extract_archive(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["page.zip"]


# ----------------------------------------------------------------------------- downloads cannot be fooled
BODY = bytes(range(256)) * 40  # 10 KiB


def test_no_length_no_checksum_is_refused_and_says_what_to_do(archive_server, tmp_path):
    url = archive_server.add("/nolen.bin", BODY, length=False)
    dest = tmp_path / "nolen.bin"
    with pytest.raises(DownloadError) as err:
        download_url(url, dest, progress=False, timeout=TIMEOUT)
    msg = str(err.value)
    assert url in msg and "no Content-Length" in msg and f"{len(BODY)} bytes" in msg
    assert str(dest) in msg and "checksum" in msg and "size" in msg  # where to put it by hand, or verify it
    assert not dest.exists()  # never looks complete
    part = tmp_path / "nolen.bin.part"
    assert part.read_bytes() == BODY and str(part) in msg  # kept, named


def test_no_length_cut_short_is_refused_too(archive_server, tmp_path):
    # The same server cutting the body half-way looks exactly like a complete transfer.
    url = archive_server.add("/nolen.bin", BODY, length=False, cut_after=len(BODY) // 2)
    with pytest.raises(DownloadError, match="no Content-Length"):
        download_url(url, tmp_path / "f.bin", progress=False, timeout=TIMEOUT)
    assert not (tmp_path / "f.bin").exists()


def test_no_length_with_checksum_or_size_is_verified(archive_server, tmp_path):
    url = archive_server.add("/nolen.bin", BODY, length=False)
    assert download_url(url, tmp_path / "a.bin", _sha(BODY), progress=False).read_bytes() == BODY
    assert download_url(url, tmp_path / "b.bin", size=len(BODY), progress=False).read_bytes() == BODY
    cut = archive_server.add("/cut.bin", BODY, length=False, cut_after=len(BODY) - 10)
    with pytest.raises(ChecksumError, match=f"size is {len(BODY) - 10} bytes, expected {len(BODY)}"):
        download_url(cut, tmp_path / "c.bin", size=len(BODY), progress=False, timeout=TIMEOUT)
    assert not (tmp_path / "c.bin").exists() and not (tmp_path / "c.bin.part").exists()


def test_short_read_against_content_length_fails_without_checksum(archive_server, tmp_path):
    url = archive_server.add("/short.bin", BODY, cut_after=100)
    with pytest.raises(DownloadError, match=f"closed after 100 of {len(BODY)} bytes"):
        download_url(url, tmp_path / "s.bin", progress=False, timeout=TIMEOUT)
    assert not (tmp_path / "s.bin").exists()
    archive_server.add("/short.bin", BODY)  # the server recovers: resumed, then proven whole by its length
    assert download_url(url, tmp_path / "s.bin", progress=False, timeout=TIMEOUT).read_bytes() == BODY
    assert archive_server.requests[-1] == ("/short.bin", "bytes=100-")


def test_chunked_body_ends_properly_or_fails(archive_server, tmp_path):
    url = archive_server.add("/chunked.bin", BODY, chunked=True)
    assert download_url(url, tmp_path / "ok.bin", progress=False, timeout=TIMEOUT).read_bytes() == BODY
    cut = archive_server.add("/chunked-cut.bin", BODY, chunked=True, cut_after=len(BODY) // 2)
    with pytest.raises(DownloadError, match=r"/chunked-cut\.bin"):
        download_url(cut, tmp_path / "cut.bin", progress=False, timeout=TIMEOUT)
    assert not (tmp_path / "cut.bin").exists()


def test_partial_content_at_the_wrong_byte_starts_over(archive_server, tmp_path):
    url = archive_server.add("/shift.bin", BODY, range_shift=7)
    (tmp_path / "f.bin.part").write_bytes(BODY[:1000])
    assert download_url(url, tmp_path / "f.bin", progress=False, timeout=TIMEOUT).read_bytes() == BODY
    assert [r for _, r in archive_server.requests] == ["bytes=1000-", None]


def test_range_not_satisfiable_states_the_size(archive_server, tmp_path):
    url = archive_server.add("/whole.bin", BODY)
    (tmp_path / "w.bin.part").write_bytes(BODY)  # already whole: the 416's "bytes */N" proves it
    assert download_url(url, tmp_path / "w.bin", progress=False, timeout=TIMEOUT).read_bytes() == BODY
    (tmp_path / "x.bin.part").write_bytes(BODY + b"junk")  # longer than the file: start over
    assert download_url(url, tmp_path / "x.bin", progress=False, timeout=TIMEOUT).read_bytes() == BODY
    assert archive_server.requests[-1] == ("/whole.bin", None)


def test_catalogue_entry_without_checksum_needs_a_provable_size(archive_server, monkeypatch, tmp_path):
    body = _zip({f"Tiny_HR/{k}": v for k, v in HR_FILES.items()})
    url = archive_server.add("/nolen.zip", body, length=False)
    layout = {"train/hr": ("Tiny_HR",)}
    _register(monkeypatch, "TinySR", [Resource(url, "hr.zip", None, None, ("train/hr",))], layout)
    archive = tmp_path / "downloads" / "hr.zip"
    with pytest.raises(DownloadError) as err:
        prepare_dataset("TinySR", tmp_path, progress=False, timeout=TIMEOUT)
    msg = str(err.value)
    assert url in msg and "no Content-Length" in msg and str(archive) in msg
    assert not (tmp_path / "TinySR").exists() and not (tmp_path / "recorded-checksums.json").exists()

    # The size recorded in the catalogue proves it whole.
    _register(monkeypatch, "TinySR", [Resource(url, "hr.zip", None, len(body), ("train/hr",))], layout)
    root = prepare_dataset("TinySR", tmp_path, progress=False, timeout=TIMEOUT)
    info = json.loads((root / ".srlib" / "hr.zip.json").read_text())
    assert info["verified"] == "size" and info["size"] == len(body)
    assert json.loads((tmp_path / "recorded-checksums.json").read_text())[url]["size"] == len(body)


def test_archive_supplied_by_hand_is_used_when_the_server_cannot_prove_it(
    archive_server, monkeypatch, tmp_path
):
    body = _zip({f"Tiny_HR/{k}": v for k, v in HR_FILES.items()})
    url = archive_server.add("/nolen.zip", body, length=False)
    _register(
        monkeypatch,
        "TinySR",
        [Resource(url, "hr.zip", None, None, ("train/hr",))],
        {"train/hr": ("Tiny_HR",)},
    )
    (tmp_path / "downloads").mkdir()
    (tmp_path / "downloads" / "hr.zip").write_bytes(body)  # what the error message asks for
    out = resolve_dataset_dir("TinySR", data_dir=tmp_path, download=True, progress=False, timeout=TIMEOUT)
    assert sorted(p.name for p in out.iterdir()) == sorted(HR_FILES)
    assert archive_server.requests == []


def test_https_move_keeps_markers_and_recorded_checksums(archive_server, monkeypatch, tmp_path):
    spec = _tiny_dataset(monkeypatch, archive_server, checksum=None)
    prepare_dataset("TinySR", tmp_path, progress=False, split="train", kind="hr", timeout=TIMEOUT)
    n = len(archive_server.requests)
    https = [replace(r, url=r.url.replace("http://", "https://")) for r in spec.resources]
    _register(monkeypatch, "TinySR", https, dict(spec.layout))
    # The extracted copy made from the http:// address still counts: no request at all.
    assert resolve_dataset_dir("TinySR", data_dir=tmp_path) == tmp_path / "TinySR" / "Tiny_HR"
    assert len(archive_server.requests) == n
    manifest = json.loads((tmp_path / "recorded-checksums.json").read_text())
    assert download._recorded(manifest, https[0].url)[0].value == manifest[spec.resources[0].url]["sha256"]
    assert not download._same_source("https://a/x.zip", "https://b/x.zip")
    assert not download._same_source("ftp://a/x.zip", "https://a/x.zip")


def test_malformed_manifest_is_ignored_with_a_warning(archive_server, monkeypatch, tmp_path, caplog):
    _tiny_dataset(monkeypatch, archive_server, checksum=None)
    hr_url = archive_server.base_url + "/TinySR/hr.zip"
    (tmp_path / "recorded-checksums.json").write_text(json.dumps({hr_url: {"sha256": "not hex"}}))
    with caplog.at_level(logging.WARNING, logger="srlib.data.download"):
        prepare_dataset("TinySR", tmp_path, progress=False, split="train", kind="hr", timeout=TIMEOUT)
    assert any("malformed" in r.getMessage() for r in caplog.records)
    (tmp_path / "recorded-checksums.json").write_text("[1, 2]")
    assert download._load_manifest(tmp_path) == {}


def test_marker_and_manifest_are_written_with_the_umask(archive_server, monkeypatch, tmp_path):
    import os

    _tiny_dataset(monkeypatch, archive_server, checksum=None)
    old = os.umask(0o022)
    try:
        root = prepare_dataset("TinySR", tmp_path, progress=False, split="train", kind="hr", timeout=TIMEOUT)
    finally:
        os.umask(old)
    for path in (root / ".srlib" / "tiny_hr.zip.json", tmp_path / "recorded-checksums.json"):
        assert path.stat().st_mode & 0o777 == 0o644
