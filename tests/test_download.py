"""Downloads against a local HTTP server with scripted faults: checksum before the final name,
resume with Range, retries with back-off, clear errors offline, manual copies, mirrors."""
import hashlib
import os
import socket

import pytest

from fake_server import Faults, serve
from wd.data.corpora import RemoteFile
from wd.data.download import DownloadError, DownloadSettings, fetch, source_url

DATA = os.urandom(3 * 1024 * 1024 + 17)  # several read chunks
FAST = DownloadSettings(retries=3, timeout=5, backoff=0.01)


def remote(data: bytes = DATA, algorithm: str = "sha256", size: int | None = None) -> RemoteFile:
    checksum = f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"
    return RemoteFile("sample", "http://unused.invalid/sample.tgz", checksum, "tgz", ".tgz", size)


@pytest.fixture
def faults():
    return Faults(files={"sample.tgz": DATA})


def leftovers(directory):
    return sorted(p.name for p in directory.iterdir())


def test_download_is_verified_then_named(tmp_path, faults):
    with serve(faults) as url:
        fetch(remote(algorithm="md5"), tmp_path / "sample.tgz", mirror=url, settings=FAST)
    assert (tmp_path / "sample.tgz").read_bytes() == DATA
    assert leftovers(tmp_path) == ["sample.tgz"]
    assert faults.requests == [("sample.tgz", None)]


def test_checksum_mismatch_is_a_clear_error_and_leaves_no_file(tmp_path, faults):
    wrong = remote(b"other bytes")
    with serve(faults) as url, pytest.raises(DownloadError) as err:
        fetch(wrong, tmp_path / "sample.tgz", mirror=url, settings=FAST)
    assert "checksum mismatch" in str(err.value) and f"{url}/sample.tgz" in str(err.value)
    assert wrong.checksum in str(err.value)
    assert leftovers(tmp_path) == []


def test_interrupted_transfer_resumes_with_range(tmp_path, faults):
    faults.cut.add("sample.tgz")
    with serve(faults) as url:
        fetch(remote(), tmp_path / "sample.tgz", mirror=url, settings=FAST)
    assert (tmp_path / "sample.tgz").read_bytes() == DATA
    assert faults.requests == [("sample.tgz", None), ("sample.tgz", f"bytes={len(DATA) // 2}-")]
    assert leftovers(tmp_path) == ["sample.tgz"]


def test_server_ignoring_range_restarts_from_zero(tmp_path, faults):
    faults.cut.add("sample.tgz")
    faults.honour_range = False
    with serve(faults) as url:
        fetch(remote(), tmp_path / "sample.tgz", mirror=url, settings=FAST)
    assert (tmp_path / "sample.tgz").read_bytes() == DATA


def test_rerun_after_a_crash_resumes_the_part_file(tmp_path, faults):
    (tmp_path / "sample.tgz.part").write_bytes(DATA[:1000])
    with serve(faults) as url:
        fetch(remote(), tmp_path / "sample.tgz", mirror=url, settings=FAST)
    assert faults.requests == [("sample.tgz", "bytes=1000-")]
    assert (tmp_path / "sample.tgz").read_bytes() == DATA


def test_complete_part_file_is_verified_without_new_bytes(tmp_path, faults):
    (tmp_path / "sample.tgz.part").write_bytes(DATA)  # crashed between transfer and rename
    with serve(faults) as url:
        fetch(remote(), tmp_path / "sample.tgz", mirror=url, settings=FAST)
    assert faults.requests == [("sample.tgz", f"bytes={len(DATA)}-")]  # answered 416
    assert (tmp_path / "sample.tgz").read_bytes() == DATA


def test_oversized_part_file_is_discarded(tmp_path, faults):
    (tmp_path / "sample.tgz.part").write_bytes(DATA + b"junk")
    with serve(faults) as url:
        fetch(remote(size=len(DATA)), tmp_path / "sample.tgz", mirror=url, settings=FAST)
    assert faults.requests == [("sample.tgz", None)]


def test_server_failing_twice_then_succeeding(tmp_path, faults):
    faults.fail["sample.tgz"] = 2
    with serve(faults) as url:
        fetch(remote(), tmp_path / "sample.tgz", mirror=url, settings=FAST)
    assert len(faults.requests) == 3
    assert (tmp_path / "sample.tgz").read_bytes() == DATA


def test_retries_exhausted_name_the_url_and_the_manual_key(tmp_path, faults):
    faults.fail["sample.tgz"] = 5
    settings = DownloadSettings(retries=1, timeout=5, backoff=0.01)
    with serve(faults) as url, pytest.raises(DownloadError) as err:
        fetch(remote(), tmp_path / "sample.tgz", mirror=url, settings=settings)
    message = str(err.value)
    assert f"{url}/sample.tgz" in message and "2 attempts" in message and "503" in message
    assert "data.manual.sample" in message and "data.mirror" in message
    assert len(faults.requests) == 2 and leftovers(tmp_path) == []


def test_stalled_server_times_out_and_is_retried(tmp_path, faults):
    faults.stall.add("sample.tgz")  # no answer until the client times out and asks again
    settings = DownloadSettings(retries=2, timeout=1, backoff=0.01)
    with serve(faults) as url:
        fetch(remote(), tmp_path / "sample.tgz", mirror=url, settings=settings)
    assert len(faults.requests) == 2


def test_missing_file_fails_at_once(tmp_path):
    empty = Faults()
    with serve(empty) as url, pytest.raises(DownloadError, match="HTTP 404"):
        fetch(remote(), tmp_path / "sample.tgz", mirror=url, settings=FAST)
    assert len(empty.requests) == 1 and leftovers(tmp_path) == []


def test_offline_error_names_the_url_and_how_to_supply_the_file(tmp_path):
    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    offline = DownloadSettings(retries=1, timeout=2, backoff=0)
    with pytest.raises(DownloadError) as err:
        fetch(remote(), tmp_path / "sample.tgz", mirror=f"http://127.0.0.1:{port}",
              settings=offline)
    message = str(err.value)
    assert f"http://127.0.0.1:{port}/sample.tgz" in message
    assert "data.manual.sample: /path/to/sample.tgz" in message
    assert "http://unused.invalid/sample.tgz" in message  # the origin, to fetch elsewhere


def test_manual_copy_is_checksum_verified(tmp_path):
    copy = tmp_path / "mine.tgz"
    copy.write_bytes(DATA)
    fetch(remote(), tmp_path / "out" / "sample.tgz", manual=copy)
    assert (tmp_path / "out" / "sample.tgz").read_bytes() == DATA
    copy.write_bytes(DATA[:-1])
    with pytest.raises(DownloadError, match="data.manual.sample") as err:
        fetch(remote(), tmp_path / "out2" / "sample.tgz", manual=copy)
    assert "checksum mismatch" in str(err.value) and copy.exists()  # the user's file stays
    assert leftovers(tmp_path / "out2") == []
    with pytest.raises(DownloadError, match="file not found"):
        fetch(remote(), tmp_path / "out3" / "sample.tgz", manual=tmp_path / "absent.tgz")


def test_mirror_replaces_the_url_by_file_name():
    file = remote()
    assert source_url(file, None) == file.url
    assert source_url(file, "http://127.0.0.1:8000/wmt/") == "http://127.0.0.1:8000/wmt/sample.tgz"
