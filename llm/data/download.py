"""Downloading corpora by name: resumable, checksummed, with a progress bar.

    download("tinyshakespeare")        # data/tinyshakespeare.txt
    download("gutenberg:2701")         # data/gutenberg-2701.txt (Moby Dick)
    download("limarp")                 # data/LimaRP-augmented.json (HF_TOKEN sent if set)

How a file arrives: bytes go to `<file>.part`; an interrupted download (dropped connection,
timeout, Ctrl-C) keeps the part and the next attempt asks the server only for the rest (an HTTP
Range request). Dropped connections are retried a few times at once. When every byte is there,
its SHA-256 is checked against the registry's (or the caller's) and the part is renamed to the
final name, so a file under its final name is always complete. The digest is recorded beside it
in `<file>.sha256` (sha256sum's format); an existing file is checked against that record rather
than downloaded again.

Only urllib: no dependency beyond the standard library and tqdm.
"""
import hashlib
import http.client
import logging
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
TIMEOUT_SECONDS = 30.0
RETRIES = 3   # further attempts after a dropped connection, each resuming where the last stopped
HUGGING_FACE_HOSTS = ("huggingface.co", "hf.co")
GUTENBERG_URL = "https://www.gutenberg.org/cache/epub/{id}/pg{id}.txt"
USER_AGENT = "llm-from-scratch (corpus download)"


class SameHostAuthRedirect(urllib.request.HTTPRedirectHandler):
    """Follows redirects; the Authorization header goes along only to the same host (a token
    for huggingface.co is not handed to the storage host it redirects to)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        auth = req.unredirected_hdrs.get("Authorization")
        same_host = urllib.parse.urlsplit(newurl).hostname == \
            urllib.parse.urlsplit(req.full_url).hostname
        if new is not None and auth and same_host:
            new.add_unredirected_header("Authorization", auth)
        return new


OPENER = urllib.request.build_opener(SameHostAuthRedirect)


@dataclass(frozen=True)
class Source:
    """A downloadable file: where it comes from, what it is called locally, its SHA-256 when
    known (None: recorded at first download), and the card that describes it."""

    name: str
    url: str
    filename: str
    sha256: str | None
    description: str
    card: str


SOURCES = {
    "tinyshakespeare": Source(
        "tinyshakespeare",
        "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        "tinyshakespeare.txt",
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        "40,000 lines of Shakespeare plays (1.1 MB), char-rnn's benchmark text",
        "text-data-info/tinyshakespeare.md"),
    "limarp": Source(
        "limarp",
        "https://huggingface.co/datasets/grimulkan/LimaRP-augmented/resolve/main/"
        "LimaRP-augmented.json",
        "LimaRP-augmented.json",
        "c37e5018e5ff901f151ea061e97075d2b8d1af392b253c42e6d2155b46978559",
        "LimaRP-augmented: human role-play conversations in ShareGPT JSON (20 MB)",
        "text-data-info/limarp-augmented.md"),
}
GUTENBERG = Source("gutenberg:<id>", GUTENBERG_URL, "gutenberg-<id>.txt", None,
                   "a Project Gutenberg book by its ebook number, plain text UTF-8",
                   "text-data-info/gutenberg.md")


def resolve(name: str) -> Source:
    """The Source called name: a key of SOURCES, or gutenberg:<id> for a Gutenberg ebook."""
    if name in SOURCES:
        return SOURCES[name]
    match = re.fullmatch(r"gutenberg:(\d+)", name)
    if match:
        book = int(match.group(1))
        return Source(f"gutenberg:{book}", GUTENBERG_URL.format(id=book),
                      f"gutenberg-{book}.txt", None, f"Project Gutenberg ebook #{book}",
                      GUTENBERG.card)
    known = ", ".join([*SOURCES, GUTENBERG.name])
    raise ValueError(f"unknown dataset {name!r}: use one of {known} (gutenberg:2701 is Moby Dick)")


def data_dir(directory: str | os.PathLike | None = None) -> Path:
    """Where downloads go: directory if given, else $LLM_DATA_DIR, else data/ in the cwd."""
    return Path(directory or os.environ.get("LLM_DATA_DIR") or "data")


def download(name: str, directory: str | os.PathLike | None = None, url: str | None = None,
             sha256: str | None = None, progress: bool = True,
             timeout: float = TIMEOUT_SECONDS) -> Path:
    """Download the dataset called name (see resolve) into data_dir(directory); its path.

    url: fetch from here instead of the registry's URL (a mirror, a newer revision); the
        registry's checksum is then not applied.
    sha256: the expected digest (hex), overriding the registry's; "none" skips the check (the
        digest is still recorded).
    HF_TOKEN from the environment is sent to Hugging Face hosts (gated or private files).
    """
    source = resolve(name)
    expected = source.sha256 if url is None else None
    if sha256 is not None:
        expected = None if sha256.lower() == "none" else check_digest(sha256)
    url = url or source.url
    return fetch(url, data_dir(directory) / source.filename, expected, hugging_face_token(url),
                 progress, timeout)


def check_digest(sha256: str) -> str:
    if not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise ValueError(f"sha256={sha256!r}: expected 64 hexadecimal digits (or 'none')")
    return sha256.lower()


def hugging_face_token(url: str) -> str | None:
    """$HF_TOKEN when url is on a Hugging Face host (else None: a token goes nowhere else)."""
    host = urllib.parse.urlsplit(url).hostname or ""
    if not any(host == h or host.endswith("." + h) for h in HUGGING_FACE_HOSTS):
        return None
    return os.environ.get("HF_TOKEN") or None


def fetch(url: str, destination: str | os.PathLike, sha256: str | None = None,
          token: str | None = None, progress: bool = True,
          timeout: float = TIMEOUT_SECONDS, retries: int = RETRIES) -> Path:
    """Download url to destination (see the module docstring); returns its path.

    sha256: expected hex digest or None.
    token: sent as "Authorization: Bearer <token>", to url's host only (not to a host it
        redirects to, such as Hugging Face's storage).
    retries: attempts after a dropped connection before giving up (the part is kept, so
        calling again resumes).
    Errors: OSError when the host cannot be reached or answers with an HTTP error, or the
    connection keeps dropping; ValueError when the digest differs (nothing is kept).
    """
    destination = Path(destination)
    if destination.exists():
        return verify_existing(destination, sha256)
    destination.parent.mkdir(parents=True, exist_ok=True)
    part = destination.with_name(destination.name + ".part")
    for attempt in range(retries + 1):
        try:
            receive(url, part, token, progress, timeout)
            break
        except (http.client.HTTPException, ConnectionError, TimeoutError) as error:
            have = part.stat().st_size if part.exists() else 0
            if attempt == retries:
                raise OSError(f"download of {url} interrupted after {have:,} bytes ({error!r}); "
                              f"run the same command again to resume from {part}") from error
            log.warning("connection dropped after %s bytes (%r); resuming", f"{have:,}", error)
    digest = file_sha256(part)
    if sha256 is not None and digest != sha256:
        part.unlink()
        raise ValueError(f"{url}: SHA-256 is {digest}, expected {sha256}; the download was "
                         "deleted. If the file changed upstream, pass --sha256 with the new "
                         "digest (or 'none') after checking it")
    write_digest(destination, digest)   # first: a file under its final name has its record
    os.replace(part, destination)
    log.info("downloaded %s (%s bytes, sha256 %s)", destination, f"{destination.stat().st_size:,}",
             digest)
    return destination


def receive(url: str, part: Path, token: str | None, progress: bool, timeout: float) -> None:
    """Append the bytes of url that part lacks (all of them when part is absent)."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if token:
        request.add_unredirected_header("Authorization", f"Bearer {token}")
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = OPENER.open(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have and range_total(error.headers) == have:
            return   # the part already holds every byte
        if error.code == 416:
            part.unlink()
            raise ConnectionResetError("the server refused to resume; starting again") from error
        raise http_error(url, error) from None
    except urllib.error.URLError as error:
        host = urllib.parse.urlsplit(url).hostname
        raise OSError(f"could not reach {host}: {error.reason} (offline?)") from None
    with response:
        if have and response.status != 206:
            log.info("%s does not resume downloads; starting again", url)
            have = 0
        total = content_total(response, have)
        with open(part, "ab" if have else "wb") as out, \
                tqdm(total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
                     desc=part.name.removesuffix(".part"), disable=not progress) as bar:
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                bar.update(len(chunk))
    if total is not None and part.stat().st_size != total:
        raise http.client.IncompleteRead(b"", total - part.stat().st_size)


def http_error(url: str, error: urllib.error.HTTPError) -> OSError:
    hint = {401: "it needs a token: set HF_TOKEN (Hugging Face) and accept the dataset's terms",
            403: "access refused: check HF_TOKEN and that you accepted the dataset's terms",
            404: "no such file: check the dataset name or id, or pass another --url"}
    message = f"{url}: HTTP {error.code} {error.reason}"
    return OSError(f"{message}; {hint[error.code]}" if error.code in hint else message)


def content_total(response, have: int) -> int | None:
    """The full size of the file from a 200's Content-Length or a 206's Content-Range."""
    if response.status == 206:
        return range_total(response.headers)
    length = response.headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


def range_total(headers) -> int | None:
    """The total of a Content-Range header ("bytes 0-99/1234" or "bytes */1234")."""
    match = re.fullmatch(r"bytes (?:\d+-\d+|\*)/(\d+)", headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def digest_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def write_digest(path: Path, digest: str) -> None:
    digest_path(path).write_text(f"{digest}  {path.name}\n")


def verify_existing(path: Path, sha256: str | None) -> Path:
    """An already downloaded file, checked against sha256 or else its recorded digest."""
    record = digest_path(path)
    expected = sha256 or (record.read_text().split()[0] if record.exists() else None)
    if expected is None:
        log.info("%s exists (no recorded digest to check); not downloading again", path)
        return path
    digest = file_sha256(path)
    if digest != expected:
        raise ValueError(f"{path} exists but its SHA-256 is {digest}, expected {expected}; "
                         "delete it to download it again")
    log.info("%s already downloaded (sha256 %s)", path, digest)
    return path
