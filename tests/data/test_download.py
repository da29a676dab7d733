"""download_file, DatasetFile and extract_archive, against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import zipfile

import pytest

from segedu.data import DownloadError, download_file
from segedu.data import download as download_module
from segedu.data.archive import ExtractConflictError, UnsafeArchiveError, extract_archive
from segedu.data.download import DatasetFile, sha256_of
from tests.data.local_http import NO_PROXY_VARIABLES, LocalServer, refused_url

BODY = os.urandom(3 * (1 << 20) + 123)  # a little over 3 chunks
SHA = hashlib.sha256(BODY).hexdigest()


@pytest.fixture
def server(monkeypatch):
    for variable in NO_PROXY_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    with LocalServer() as local:
        local.add("/data.bin", BODY)
        local.add("/truncated.bin", BODY, mode="truncate")
        local.add("/hang.bin", BODY, mode="hang")
        yield local


def test_good_download(tmp_path, server):
    dest = tmp_path / "sub" / "data.bin"
    result = download_file(server.url("/data.bin"), dest, sha256=SHA, progress=False)
    assert result == dest and dest.read_bytes() == BODY
    assert os.listdir(dest.parent) == ["data.bin"]  # no temporary file left


def test_existing_file_is_not_downloaded_again(tmp_path, server):
    dest = tmp_path / "data.bin"
    download_file(server.url("/data.bin"), dest, sha256=SHA, progress=False)
    download_file(server.url("/data.bin"), dest, sha256=SHA, progress=False)
    assert server.hits["/data.bin"] == 1
    # and it needs no network at all
    assert download_file(refused_url(), dest, sha256=SHA.upper(), progress=False) == dest


def test_checksum_mismatch_leaves_nothing(tmp_path, server):
    dest = tmp_path / "data.bin"
    with pytest.raises(DownloadError) as info:
        download_file(server.url("/data.bin"), dest, sha256="0" * 64, progress=False)
    assert SHA in str(info.value) and "data.bin" in str(info.value)
    assert os.listdir(tmp_path) == []


def test_server_closing_mid_stream_leaves_nothing(tmp_path, server):
    dest = tmp_path / "data.bin"
    with pytest.raises(DownloadError, match="closed after"):
        download_file(server.url("/truncated.bin"), dest, sha256=SHA, progress=False)
    assert os.listdir(tmp_path) == []


def test_connection_refused_says_how_to_get_the_file_by_hand(tmp_path):
    dest = tmp_path / "weights.pth"
    url = refused_url("/weights.pth")
    with pytest.raises(DownloadError) as info:
        download_file(url, dest, sha256=SHA, progress=False)
    message = str(info.value)
    for needed in ("weights.pth", url, str(dest), "by hand", "SEGEDU_CACHE"):
        assert needed in message
    assert os.listdir(tmp_path) == []


def test_timeout_and_http_error(tmp_path, server):
    with pytest.raises(DownloadError, match="timed out"):
        download_file(server.url("/hang.bin"), tmp_path / "a.bin", sha256=SHA, progress=False,
                      timeout=0.3)
    with pytest.raises(DownloadError, match="404"):
        download_file(server.url("/missing.bin"), tmp_path / "b.bin", sha256=SHA, progress=False)
    assert os.listdir(tmp_path) == []


def test_existing_file_with_wrong_checksum_is_kept_and_named(tmp_path, server):
    dest = tmp_path / "data.bin"
    dest.write_bytes(b"the user's own file")
    with pytest.raises(DownloadError) as info:
        download_file(server.url("/data.bin"), dest, sha256=SHA, progress=False)
    assert str(dest) in str(info.value) and "left untouched" in str(info.value)
    assert dest.read_bytes() == b"the user's own file" and server.hits["/data.bin"] == 0


def test_interrupt_removes_the_partial_file(tmp_path, server, monkeypatch):
    class InterruptedBar(download_module.tqdm):
        def update(self, n=1):
            raise KeyboardInterrupt

    monkeypatch.setattr(download_module, "tqdm", InterruptedBar)
    with pytest.raises(KeyboardInterrupt):
        download_file(server.url("/data.bin"), tmp_path / "data.bin", sha256=SHA, progress=False)
    assert os.listdir(tmp_path) == []


def test_progress_bar_on_and_off(tmp_path, server, capfd):
    download_file(server.url("/data.bin"), tmp_path / "quiet.bin", sha256=SHA, progress=False)
    assert capfd.readouterr().err == ""
    download_file(server.url("/data.bin"), tmp_path / "loud.bin", sha256=SHA, progress=True)
    assert "loud.bin" in capfd.readouterr().err


def test_bad_sha256_argument(tmp_path):
    with pytest.raises(ValueError, match="sha256"):
        download_file("http://127.0.0.1/x", tmp_path / "x", sha256="abc")
    with pytest.raises(ValueError, match="plain file name"):
        DatasetFile(name="../x.zip", url="http://127.0.0.1/x", sha256=SHA)


# --------------------------------------------------------------------------- archives


def _tar_bytes(members: dict[str, bytes], links: dict[str, str] | None = None,
               mode: str = "w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buffer.getvalue()


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for name, data in members.items():
            zipped.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["tar.gz", "tar", "zip"])
def test_extract_archive(tmp_path, kind):
    members = {"top/a.txt": b"alpha", "top/sub/b.txt": b"beta"}
    archive = tmp_path / f"archive.{kind}"
    archive.write_bytes(_zip_bytes(members) if kind == "zip"
                        else _tar_bytes(members, mode="w:gz" if kind == "tar.gz" else "w"))
    dest = tmp_path / "out"
    extracted = extract_archive(archive, dest)
    assert (sorted(p.relative_to(dest).as_posix() for p in extracted)
            == ["top/a.txt", "top/sub/b.txt"])
    assert ((dest / "top/a.txt").read_bytes() == b"alpha"
            and (dest / "top/sub/b.txt").read_bytes() == b"beta")
    assert sorted(os.listdir(dest)) == ["top"]  # the staging folder is gone


@pytest.mark.parametrize(
    "archive_bytes",
    [
        _tar_bytes({"ok.txt": b"fine", "../evil.txt": b"pwned"}),
        _tar_bytes({"ok.txt": b"fine", "/tmp/segedu-evil.txt": b"pwned"}),
        _tar_bytes({"ok.txt": b"fine"}, links={"data/link": "../../evil"}),
        _tar_bytes({"ok.txt": b"fine"}, links={"link": "/etc/passwd"}),
        _zip_bytes({"ok.txt": b"fine", "sub/../../evil.txt": b"pwned"}),
    ],
    ids=["tar-dotdot", "tar-absolute", "tar-symlink-out", "tar-symlink-absolute", "zip-dotdot"],
)
def test_malicious_archive_is_refused_and_writes_nothing(tmp_path, archive_bytes):
    archive = tmp_path / "evil.archive"
    archive.write_bytes(archive_bytes)
    dest = tmp_path / "deep" / "out"
    with pytest.raises(UnsafeArchiveError) as info:
        extract_archive(archive, dest)
    assert str(archive) in str(info.value)
    assert os.listdir(dest) == []  # not even the harmless member
    assert not (tmp_path / "deep" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()


def test_extract_never_overwrites_a_different_file(tmp_path):
    archive = tmp_path / "a.zip"
    archive.write_bytes(_zip_bytes({"x/keep.txt": b"from archive", "x/new.txt": b"new"}))
    dest = tmp_path / "out"
    (dest / "x").mkdir(parents=True)
    (dest / "x" / "keep.txt").write_bytes(b"the user's version")
    with pytest.raises(ExtractConflictError, match="keep.txt"):
        extract_archive(archive, dest)
    assert (dest / "x" / "keep.txt").read_bytes() == b"the user's version"
    assert not (dest / "x" / "new.txt").exists()
    (dest / "x" / "keep.txt").write_bytes(b"from archive")  # an identical file is no conflict
    extract_archive(archive, dest)
    assert (dest / "x" / "new.txt").read_bytes() == b"new"


def test_extract_refuses_what_is_not_an_archive(tmp_path):
    path = tmp_path / "data.zip"
    path.write_bytes(b"<html>Service unavailable</html>")
    with pytest.raises(ValueError, match="neither a zip nor a tar"):
        extract_archive(path, tmp_path / "out")


def test_dataset_file_downloads_and_extracts_once(tmp_path, server):
    payload = _tar_bytes({"dataset/readme.txt": b"hello"})
    server.add("/dataset.tar.gz", payload)
    resource = DatasetFile(
        name="dataset.tar.gz",
        url=server.url("/dataset.tar.gz"),
        sha256=hashlib.sha256(payload).hexdigest(),
        extract=True,
    )
    folder = tmp_path / "cache"
    assert resource.fetch(folder, progress=False) == folder / "dataset.tar.gz"
    assert (folder / "dataset" / "readme.txt").read_bytes() == b"hello"
    assert sha256_of(folder / "dataset.tar.gz") == resource.sha256
    (folder / "dataset.tar.gz").unlink()  # extraction is recorded: no download, no re-extraction
    resource.fetch(folder, progress=False)
    assert server.hits["/dataset.tar.gz"] == 1


def test_dataset_file_offline_error_names_file_and_destination(tmp_path):
    resource = DatasetFile(name="big.zip", url=refused_url("/big.zip"), sha256=SHA, extract=True)
    with pytest.raises(DownloadError) as info:
        resource.fetch(tmp_path, progress=False)
    assert "big.zip" in str(info.value) and str(tmp_path / "big.zip") in str(info.value)
