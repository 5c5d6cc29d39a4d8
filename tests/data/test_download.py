"""Downloads against a local HTTP server on 127.0.0.1 (never the internet): resume, checksums,
errors, tokens."""
import hashlib
import http.server
import re
import socket
import threading

import pytest

from llm.cli import main
from llm.data import download
from llm.data.download import fetch

BODY = bytes(range(256)) * 400 + b"the end\n"   # 102,408 bytes: several reads
DIGEST = hashlib.sha256(BODY).hexdigest()


class Server:
    """What the handler serves and what it saw: files by path, paths whose first response is
    cut halfway, whether Range is honoured, redirects, and every request's path and headers."""

    def __init__(self):
        self.files = {"/file.txt": BODY}
        self.drop_once = set()
        self.honour_range = True
        self.redirects = {}
        self.requests = []
        self.url = ""

    def url_of(self, path: str) -> str:
        return self.url + path


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_state: Server

    def log_message(self, *args):
        pass

    def do_GET(self):
        state = self.server.state
        state.requests.append((self.path, dict(self.headers)))
        if self.path in state.redirects:
            self.send_response(302)
            self.send_header("Location", state.redirects[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = state.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if match and state.honour_range:
            start = int(match.group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if self.path in state.drop_once:
            state.drop_once.discard(self.path)
            self.wfile.write(body[start:start + (len(body) - start) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(body[start:])


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.state = Server()
    httpd.state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield httpd.state
    httpd.shutdown()
    httpd.server_close()


def test_fetch_writes_the_file_and_its_digest_and_no_part(server, tmp_path):
    path = fetch(server.url_of("/file.txt"), tmp_path / "sub" / "out.txt", DIGEST, progress=False)
    assert path.read_bytes() == BODY
    assert (tmp_path / "sub" / "out.txt.sha256").read_text() == f"{DIGEST}  out.txt\n"
    assert not (tmp_path / "sub" / "out.txt.part").exists()


def test_an_interrupted_download_resumes_with_a_range_request(server, tmp_path):
    server.drop_once.add("/file.txt")
    destination = tmp_path / "out.txt"
    with pytest.raises(OSError, match="interrupted after 51,204 bytes.*again to resume"):
        fetch(server.url_of("/file.txt"), destination, DIGEST, progress=False, retries=0)
    part = tmp_path / "out.txt.part"
    assert part.read_bytes() == BODY[:len(BODY) // 2] and not destination.exists()
    fetch(server.url_of("/file.txt"), destination, DIGEST, progress=False, retries=0)
    assert destination.read_bytes() == BODY
    assert server.requests[-1][1]["Range"] == f"bytes={len(BODY) // 2}-"
    assert len(server.requests) == 2


def test_a_dropped_connection_is_retried_at_once(server, tmp_path):
    server.drop_once.add("/file.txt")
    path = fetch(server.url_of("/file.txt"), tmp_path / "out.txt", DIGEST, progress=False)
    assert path.read_bytes() == BODY
    assert [headers.get("Range") for _, headers in server.requests] == \
        [None, f"bytes={len(BODY) // 2}-"]


def test_a_server_without_ranges_sends_everything_again(server, tmp_path):
    server.honour_range = False
    (tmp_path / "out.txt.part").write_bytes(b"stale bytes")
    path = fetch(server.url_of("/file.txt"), tmp_path / "out.txt", DIGEST, progress=False)
    assert path.read_bytes() == BODY


def test_a_complete_part_is_finished_without_downloading_again(server, tmp_path):
    (tmp_path / "out.txt.part").write_bytes(BODY)   # stopped before the rename
    path = fetch(server.url_of("/file.txt"), tmp_path / "out.txt", DIGEST, progress=False)
    assert path.read_bytes() == BODY
    assert server.requests[0][1]["Range"] == f"bytes={len(BODY)}-"


def test_a_checksum_mismatch_keeps_nothing(server, tmp_path):
    with pytest.raises(ValueError, match=f"SHA-256 is {DIGEST}, expected 0{{64}}.*--sha256"):
        fetch(server.url_of("/file.txt"), tmp_path / "out.txt", "0" * 64, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_is_checked_against_its_recorded_digest(server, tmp_path):
    destination = tmp_path / "out.txt"
    fetch(server.url_of("/file.txt"), destination, None, progress=False)
    assert fetch(server.url_of("/file.txt"), destination, progress=False) == destination
    assert len(server.requests) == 1   # not downloaded again
    destination.write_bytes(b"tampered")
    with pytest.raises(ValueError, match="out.txt exists but its SHA-256 is .*delete it"):
        fetch(server.url_of("/file.txt"), destination, progress=False)


def test_a_missing_file_is_a_clear_error(server, tmp_path):
    with pytest.raises(OSError, match=r"/nope.txt: HTTP 404 .*check the dataset name"):
        fetch(server.url_of("/nope.txt"), tmp_path / "out.txt", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_host_says_offline(tmp_path):
    with socket.socket() as probe:   # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(OSError, match=r"could not reach 127.0.0.1: .* \(offline\?\)"):
        fetch(f"http://127.0.0.1:{port}/file.txt", tmp_path / "out.txt", progress=False)


def test_the_token_goes_to_its_host_only(server, tmp_path):
    port = server.url.rsplit(":", 1)[1]
    server.redirects["/same"] = "/file.txt"
    server.redirects["/other"] = f"http://localhost:{port}/file.txt"
    fetch(server.url_of("/same"), tmp_path / "a.txt", DIGEST, token="secret", progress=False)
    fetch(server.url_of("/other"), tmp_path / "b.txt", DIGEST, token="secret", progress=False)
    auth = [(path, headers.get("Authorization")) for path, headers in server.requests]
    assert auth == [("/same", "Bearer secret"), ("/file.txt", "Bearer secret"),
                    ("/other", "Bearer secret"), ("/file.txt", None)]


def test_hf_token_is_used_for_hugging_face_urls_only(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_abc")
    assert download.hugging_face_token(download.SOURCES["limarp"].url) == "hf_abc"
    assert download.hugging_face_token("https://cdn-lfs.hf.co/x") == "hf_abc"
    assert download.hugging_face_token("https://nothuggingface.co/x") is None
    assert download.hugging_face_token(download.SOURCES["tinyshakespeare"].url) is None
    monkeypatch.delenv("HF_TOKEN")
    assert download.hugging_face_token(download.SOURCES["limarp"].url) is None


def test_names_resolve_to_sources_and_files():
    book = download.resolve("gutenberg:2701")
    assert book.url == "https://www.gutenberg.org/cache/epub/2701/pg2701.txt"
    assert book.filename == "gutenberg-2701.txt" and book.sha256 is None
    assert download.resolve("limarp").filename == "LimaRP-augmented.json"
    with pytest.raises(ValueError, match="unknown dataset 'gutenberg:x'.*tinyshakespeare"):
        download.resolve("gutenberg:x")


def test_download_uses_the_data_dir_and_checks_given_digests(server, tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_DATA_DIR", str(tmp_path / "cache"))
    path = download.download("limarp", url=server.url_of("/file.txt"), progress=False)
    assert path == tmp_path / "cache" / "LimaRP-augmented.json" and path.read_bytes() == BODY
    with pytest.raises(ValueError, match="64 hexadecimal digits"):
        download.download("tinyshakespeare", sha256="abc", progress=False)
    with pytest.raises(ValueError, match="expected " + "1" * 64):
        download.download("tinyshakespeare", tmp_path / "x", server.url_of("/file.txt"),
                          sha256="1" * 64, progress=False)


def test_the_registry_digest_of_tiny_shakespeare_matches_the_shared_copy(corpora):
    digest = hashlib.sha256((corpora / "tinyshakespeare.txt").read_bytes()).hexdigest()
    assert digest == download.SOURCES["tinyshakespeare"].sha256


def test_cli_downloads_and_reports_errors_in_one_line(server, tmp_path, capsys):
    args = ["--log-file", str(tmp_path / "log"), "data", "download", "tinyshakespeare",
            "--dir", str(tmp_path), "--url", server.url_of("/file.txt"), "--sha256", DIGEST]
    assert main(args) == 0
    assert (tmp_path / "tinyshakespeare.txt").read_bytes() == BODY
    assert "text-data-info/tinyshakespeare.md" in capsys.readouterr().out
    assert main(args[:5] + ["--dir", str(tmp_path / "new"), "--url",
                            server.url_of("/missing")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("llm: error: ") and "HTTP 404" in error and error.count("\n") == 1
