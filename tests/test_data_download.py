"""The corpus download on a fresh machine, against a real HTTP server on 127.0.0.1.

``tests/test_data.py`` replaces ``urlopen``; here the loader's real urllib/socket path runs
against ``http.server`` in a thread (a free port, nothing leaves the machine), reached
through ``$S2S_CORPUS_URL``. The server answers, per path:

* ``/good/``: a valid ``kor-eng.zip`` (a small ``kor.txt`` in manythings.org's format);
* ``/refused/``: 403, as manythings.org answers a script's default User-Agent;
* ``/corrupt/``: the zip with bytes of its compressed ``kor.txt`` flipped (bad CRC);
* ``/truncated/``: half the zip, then the connection closes before Content-Length;
* ``/hang/``: accepts the connection and never answers;
* ``/drip/``: headers (1 MiB), then one byte every 50 ms: each read is quick, the whole endless.

A good download lands in an empty ``$XDG_CACHE_HOME`` with a progress bar on stderr, and
loads; every bad one raises :class:`DataNotFoundError` saying what failed and what to do,
and leaves the cache as it was.
"""
from __future__ import annotations

import functools
import http.server
import io
import threading
import time
import zipfile
from pathlib import Path

import pytest

from s2s_lib import data as D
from s2s_lib.data import DataNotFoundError, Pair, find_corpus, load_pairs

ATTR = "CC-BY 2.0 (France) Attribution: tatoeba.org #1 (a) & #2 (b)"
ROWS = [("Go.", "가."), ("Hi.", "안녕."), ("I'm happy.", "나는 행복해."), ("Tom likes cats.", "톰은 고양이를 좋아해.")]
KOR_TXT = "".join(f"{en}\t{ko}\t{ATTR}\n" for en, ko in ROWS).encode("utf-8")  # English<TAB>Korean<TAB>attribution
TIMEOUT = 0.5  # the loader's socket timeout in the slow cases (its default is 60 s)


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("kor.txt", KOR_TXT * 50)
        z.writestr("_about.txt", "Tatoeba kor-eng, for the tests")
    return buf.getvalue()


GOOD_ZIP = _zip()
CORRUPT_ZIP = bytes(b ^ 0xFF if 60 <= i < 80 else b for i, b in enumerate(GOOD_ZIP))  # inside kor.txt's data


class _Handler(http.server.BaseHTTPRequestHandler):
    stop: threading.Event  # set when the test ends: the slow answers give up
    seen: list  # (path, User-Agent) of every request

    def log_message(self, *args):
        pass

    def _head(self, status: int, length: int, kind: str = "application/zip"):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def do_GET(self):
        self.seen.append((self.path, self.headers.get("User-Agent", "")))
        case = self.path.strip("/").split("/")[0]
        try:
            if case == "good":
                self._head(200, len(GOOD_ZIP))
                self.wfile.write(GOOD_ZIP)
            elif case == "refused":
                body = b"<html><body>403 Forbidden</body></html>"
                self._head(403, len(body), "text/html")
                self.wfile.write(body)
            elif case == "corrupt":
                self._head(200, len(CORRUPT_ZIP))
                self.wfile.write(CORRUPT_ZIP)
            elif case == "truncated":
                self._head(200, len(GOOD_ZIP))
                self.wfile.write(GOOD_ZIP[:len(GOOD_ZIP) // 2])
                self.close_connection = True
            elif case == "hang":
                self.stop.wait(30)
            elif case == "drip":  # a 64 KiB read() would wait an hour for its bytes
                self._head(200, 1 << 20)
                give_up = time.monotonic() + 30  # a broken loader fails the test, not hangs it
                while not self.stop.wait(0.05) and time.monotonic() < give_up:
                    self.wfile.write(b"P")
                    self.wfile.flush()
            else:
                self._head(404, 0)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the loader gave up, as it should


@pytest.fixture
def server():
    """Base URL of the local server (ends with '/'); its ``seen`` list records each request."""
    stop = threading.Event()
    handler = type("Handler", (_Handler,), {"stop": stop, "seen": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}/"
    try:
        yield type("Server", (), {"url": base, "seen": handler.seen})
    finally:
        stop.set()
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def fresh_machine(tmp_path, monkeypatch):
    """No corpus anywhere: an empty ``$XDG_CACHE_HOME``, no ``$S2S_DATA_DIR``."""
    cache = tmp_path / "xdg"
    cache.mkdir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.delenv("S2S_DATA_DIR", raising=False)
    monkeypatch.delenv("S2S_CORPUS_URL", raising=False)
    return cache


def _tree(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


def test_good_download_lands_in_the_empty_cache_with_a_progress_bar(server, fresh_machine, monkeypatch, capsys):
    monkeypatch.setenv("S2S_CORPUS_URL", server.url + "good/kor-eng.zip")
    with pytest.warns(D.CorpusVersionWarning):  # the little kor.txt is not the book's corpus
        pairs = load_pairs()  # as a chapter calls it: find_corpus with its progress bar
    path = fresh_machine / "s2s_course" / "kor-eng" / "kor.txt"
    assert path.read_bytes() == KOR_TXT * 50
    assert (path.parent / "_about.txt").is_file()
    assert pairs[:len(ROWS)] == [Pair(en, ko, ATTR, i) for i, (en, ko) in enumerate(ROWS, start=1)]
    assert len(pairs) == 50 * len(ROWS)
    stderr = capsys.readouterr().err
    assert "kor-eng.zip" in stderr and "100%" in stderr, stderr  # tqdm's bar, with the Content-Length
    assert server.seen == [("/good/kor-eng.zip", D._USER_AGENT)]  # a browser User-Agent
    # A second chapter finds the cached copy: no second download.
    assert find_corpus(progress=False) == path
    assert len(server.seen) == 1


def test_url_argument_comes_before_the_environment(server, fresh_machine, monkeypatch):
    monkeypatch.setenv("S2S_CORPUS_URL", server.url + "refused/kor-eng.zip")
    with pytest.warns(D.CorpusVersionWarning):
        path = find_corpus(progress=False, url=server.url + "good/kor-eng.zip")
    assert path == fresh_machine / "s2s_course" / "kor-eng" / "kor.txt"
    assert [p for p, _ in server.seen] == ["/good/kor-eng.zip"]
    with pytest.raises(ValueError, match="url must not be empty"):
        find_corpus(url="")
    monkeypatch.setenv("S2S_CORPUS_URL", "")  # empty: as if unset
    assert D._corpus_url(None) == D.DATA_URL


BAD = {  # case -> what the message says went wrong, the longest it may take (s)
    "refused": ("HTTP Error 403", 5),
    "corrupt": ("not a usable kor-eng.zip", 5),
    "truncated": (f"closed after {len(GOOD_ZIP) // 2} of its {len(GOOD_ZIP)} bytes", 5),
    "hang": ("timed out", 5),
    "drip": (f"took more than {10 * TIMEOUT:g} s", 10 * TIMEOUT + 5),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_download_says_what_to_do_and_leaves_the_cache_alone(case, server, fresh_machine, monkeypatch):
    # Something already in the cache (a tokenizer of an earlier chapter) must stay as it was.
    (fresh_machine / "s2s_course" / "spm").mkdir(parents=True)
    (fresh_machine / "s2s_course" / "spm" / "abc.model").write_bytes(b"model")
    before = _tree(fresh_machine)
    url = server.url + f"{case}/kor-eng.zip"
    monkeypatch.setenv("S2S_CORPUS_URL", url)
    if case in ("hang", "drip"):  # the real download_corpus, with a short socket timeout
        monkeypatch.setattr(D, "download_corpus", functools.partial(D.download_corpus, timeout=TIMEOUT))
    what, longest = BAD[case]
    started = time.monotonic()
    with pytest.raises(DataNotFoundError) as err:
        load_pairs()
    took = time.monotonic() - started
    message = str(err.value)
    assert what in message and url in message, message  # what failed, where
    # ... and what to do: download by hand from manythings.org/anki, put kor.txt in the cache or S2S_DATA_DIR
    assert "https://www.manythings.org/anki/kor-eng.zip by hand" in message, message
    assert str(fresh_machine / "s2s_course" / "kor-eng" / "kor.txt") in message and "S2S_DATA_DIR" in message
    assert took < longest, f"{case}: gave up after {took:.1f} s"
    assert _tree(fresh_machine) == before
    assert [p for p, _ in server.seen] == [f"/{case}/kor-eng.zip"]
