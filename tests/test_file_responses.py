"""A file the view sends (Flask's ``send_file``) is a bounded body: it is sent, stored and
replayed byte for byte with its Content-Type and Content-Disposition, whether it comes from
memory or from disk and whoever wraps it (werkzeug, or the WSGI server). One too large to keep
is sent untouched, never read into memory first, and a retry gets 410, as for any large
response. Only a body streamed from a generator cannot be stored."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response, current_app, request, send_file

from flask_idempotency import idempotent
from tests.helpers import charges, headers, stored_keys
from tests.ledger_app import Charge, create_app, db
from tests.served import call, serve

LIMIT = 16 * 1024
# werkzeug's and gunicorn's file wrappers read this much at a time.
CHUNK = 8192
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


def content(size: int) -> bytes:
    """``size`` bytes of every value, so that no byte can be lost or changed unnoticed."""
    return (bytes(range(256)) * (size // 256 + 1))[:size]


class CountingMemoryFile(io.BytesIO):
    """A file in memory that counts the bytes read from it; send_file knows its size."""

    bytes_read = 0

    def read(self, size: int | None = -1, /) -> bytes:
        data = super().read(size)
        self.bytes_read += len(data)
        return data


class CountingDiskFile(io.FileIO):
    """A file on disk, opened by the view, that counts the bytes read from it; send_file does
    not know the size of a file object that is not in memory."""

    bytes_read = 0

    def read(self, size: int | None = -1, /) -> bytes:
        data = super().read(size)
        assert data is not None
        self.bytes_read += len(data)
        return data


class ServerFileWrapper:
    """A WSGI server's own ``wsgi.file_wrapper``, written as gunicorn writes its own."""

    def __init__(self, filelike: io.IOBase, blksize: int = CHUNK) -> None:
        self.filelike = filelike
        self.blksize = blksize

    def __iter__(self) -> ServerFileWrapper:
        return self

    def __next__(self) -> bytes:
        data: bytes = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration

    def close(self) -> None:
        self.filelike.close()


def record_charge(note: str) -> None:
    db.session.add(Charge(amount=1, note=note))
    db.session.flush()


def register_file_views(app: Flask) -> None:
    """File views, each recording a charge so that a test sees how often it ran. Files on disk
    are read from ``FILE_DIRECTORY``; the files a view opened are kept in ``OPENED_FILES``."""
    app.config["OPENED_FILES"] = []

    def directory() -> Path:
        return Path(current_app.config["FILE_DIRECTORY"])

    @app.post("/receipts/<ref>")
    @idempotent
    def receipt(ref: str) -> Response:
        record_charge(ref)
        return send_file(io.BytesIO(PDF), mimetype="application/pdf", download_name="receipt.pdf")

    @app.post("/memory/<int:size>")
    @idempotent
    def from_memory(size: int) -> Response:
        record_charge("memory")
        file = CountingMemoryFile(content(size))
        current_app.config["OPENED_FILES"].append(file)
        return send_file(
            file,
            mimetype=request.args.get("mimetype", "application/octet-stream"),
            download_name=request.args.get("name", "data.bin"),
        )

    @app.post("/disk/<name>")
    @idempotent
    def from_disk(name: str) -> Response:
        record_charge("disk")
        return send_file(directory() / name, as_attachment=True)

    @app.post("/opened/<name>")
    @idempotent
    def opened(name: str) -> Response:
        record_charge("opened")
        file = CountingDiskFile(directory() / name)
        current_app.config["OPENED_FILES"].append(file)
        return send_file(file, mimetype="application/octet-stream", download_name=name)

    @app.post("/generator")
    @idempotent
    def generator() -> Response:
        record_charge("generator")

        def chunks() -> Iterator[bytes]:
            yield b"one"
            yield b"two"

        return Response(chunks(), direct_passthrough=True, headers={"Content-Length": "6"})


@pytest.fixture
def files(tmp_path: Path) -> Path:
    directory = tmp_path / "files"
    directory.mkdir()
    return directory


@pytest.fixture
def file_app(make_app: Callable[..., Flask], files: Path) -> Flask:
    app = make_app(IDEMPOTENCY_MAX_RESPONSE_SIZE=LIMIT, FILE_DIRECTORY=str(files))
    register_file_views(app)
    return app


def opened_files(app: Flask) -> list[Any]:
    return list(app.config["OPENED_FILES"])


def header_names(stored: list[list[str]] | None) -> list[str]:
    return [name.lower() for name, _ in stored or []]


# --- Stored and replayed ------------------------------------------------------------------------


def test_a_pdf_sent_from_memory_is_stored_and_replayed_byte_for_byte(file_app: Flask) -> None:
    client = file_app.test_client()

    first = client.post("/receipts/r-1", headers=headers("pdf"))
    retry = client.post("/receipts/r-1", headers=headers("pdf"))

    assert first.status_code == retry.status_code == 200
    assert first.data == retry.data == PDF
    assert first.headers["Content-Length"] == retry.headers["Content-Length"] == str(len(PDF))
    assert first.headers["Content-Type"] == retry.headers["Content-Type"] == "application/pdf"
    assert (
        first.headers["Content-Disposition"]
        == retry.headers["Content-Disposition"]
        == "inline; filename=receipt.pdf"
    )
    assert "Idempotent-Replayed" not in first.headers
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert charges(file_app) == 1
    [key] = stored_keys(file_app)
    assert (key.response_code, key.response_bytes, key.response_kept) == (200, PDF, True)
    assert header_names(key.response_headers).count("content-type") == 1
    assert header_names(key.response_headers).count("content-disposition") == 1


def test_a_file_on_disk_replays_with_its_representation_headers(
    file_app: Flask, files: Path
) -> None:
    (files / "export.csv").write_bytes(b"order,total\n" + b"o-1,1200\n" * 500)
    client = file_app.test_client()

    first = client.post("/disk/export.csv", headers=headers("csv"))
    retry = client.post("/disk/export.csv", headers=headers("csv"))

    assert first.data == (files / "export.csv").read_bytes()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.data == first.data
    assert first.headers["Content-Disposition"] == "attachment; filename=export.csv"
    assert first.headers["Content-Type"].startswith("text/csv")
    for name in ("Content-Type", "Content-Disposition", "ETag", "Last-Modified", "Cache-Control"):
        assert retry.headers.getlist(name) == first.headers.getlist(name), name
    assert (
        retry.headers["Content-Length"] == first.headers["Content-Length"] == str(len(first.data))
    )
    assert charges(file_app) == 1


def test_a_file_the_view_opened_is_read_once_closed_and_given_its_length(
    file_app: Flask, files: Path
) -> None:
    (files / "statement.bin").write_bytes(content(LIMIT))
    client = file_app.test_client()

    first = client.post("/opened/statement.bin", headers=headers("opened"))
    retry = client.post("/opened/statement.bin", headers=headers("opened"))

    [file] = opened_files(file_app)
    assert file.closed
    assert file.bytes_read == LIMIT
    # send_file could not tell the size of this file; the response sent says it all the same.
    assert first.headers["Content-Length"] == str(LIMIT)
    assert first.data == retry.data == content(LIMIT)
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.headers["Content-Disposition"] == "inline; filename=statement.bin"
    [key] = stored_keys(file_app)
    assert key.response_bytes == content(LIMIT)


def test_a_json_file_keeps_its_document_for_reading_the_table(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app()

    @app.post("/report")
    @idempotent
    def report() -> Response:
        return send_file(io.BytesIO(b'{"orders": [1, 2]}'), mimetype="application/json")

    client = app.test_client()
    client.post("/report", headers=headers("report"))
    retry = client.post("/report", headers=headers("report"))

    assert retry.json == {"orders": [1, 2]}
    [key] = stored_keys(app)
    assert key.response_body == {"orders": [1, 2]}


def test_a_download_name_outside_ascii_replays_its_content_disposition_exactly(
    file_app: Flask,
) -> None:
    client = file_app.test_client()
    url = "/memory/300?mimetype=application/pdf&name=Quittung März.pdf"

    first = client.post(url, headers=headers("umlaut"))
    retry = client.post(url, headers=headers("umlaut"))

    assert "filename*=UTF-8''Quittung%20M%C3%A4rz.pdf" in first.headers["Content-Disposition"]
    assert retry.headers["Content-Disposition"] == first.headers["Content-Disposition"]
    assert retry.data == first.data == content(300)


def test_the_servers_own_file_wrapper_is_read_as_a_file(file_app: Flask, files: Path) -> None:
    (files / "ticket.bin").write_bytes(content(CHUNK + 5))
    client = file_app.test_client()
    environ = {"wsgi.file_wrapper": ServerFileWrapper}

    first = client.post("/disk/ticket.bin", headers=headers("server"), environ_base=environ)
    retry = client.post("/disk/ticket.bin", headers=headers("server"), environ_base=environ)

    assert first.status_code == retry.status_code == 200
    assert first.data == retry.data == content(CHUNK + 5)
    assert first.headers["Content-Length"] == str(CHUNK + 5)
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert charges(file_app) == 1


def test_range_and_if_none_match_on_a_post_get_the_whole_file_and_it_is_what_is_stored(
    file_app: Flask, files: Path
) -> None:
    # Conditional and range requests are GET's and HEAD's: send_file answers an unsafe method
    # with the whole file, so the whole file, with 200, is what is stored and replayed.
    (files / "invoice.pdf").write_bytes(PDF)
    client = file_app.test_client()
    conditional = headers("range", Range="bytes=0-9", **{"If-None-Match": "*"})

    first = client.post("/disk/invoice.pdf", headers=conditional)
    retry = client.post("/disk/invoice.pdf", headers=conditional)
    plain_retry = client.post("/disk/invoice.pdf", headers=headers("range"))

    assert first.status_code == retry.status_code == plain_retry.status_code == 200
    assert first.data == retry.data == plain_retry.data == PDF
    assert "Content-Range" not in first.headers
    assert retry.headers["Idempotent-Replayed"] == "true"
    [key] = stored_keys(file_app)
    assert (key.response_code, key.response_bytes) == (200, PDF)


# --- Too large to keep --------------------------------------------------------------------------


def test_a_file_of_known_size_over_the_limit_is_sent_untouched_and_not_kept(
    file_app: Flask,
) -> None:
    client = file_app.test_client()
    url = f"/memory/{LIMIT + 1}?name=archive.zip"

    first = client.post(url, headers=headers("large"), buffered=False)
    try:
        [file] = opened_files(file_app)
        # The key is stored before the body is sent, and storing it read nothing: only the
        # first chunk was read, by the test client as it started to receive the body.
        [key] = stored_keys(file_app)
        assert file.bytes_read <= CHUNK
        assert (key.response_kept, key.response_bytes, key.response_code) == (False, None, 200)
        assert "content-disposition" in header_names(key.response_headers)
        assert first.headers["Content-Length"] == str(LIMIT + 1)
        assert first.get_data() == content(LIMIT + 1)
    finally:
        first.close()
    assert file.closed

    retry = client.post(url, headers=headers("large"))
    assert retry.status_code == 410
    assert retry.json is not None and retry.json["original_status"] == 200
    assert charges(file_app) == 1


def test_a_file_of_unknown_size_over_the_limit_is_sent_whole_having_read_only_a_limits_worth(
    file_app: Flask, files: Path
) -> None:
    size = 10 * LIMIT
    (files / "backup.bin").write_bytes(content(size))
    client = file_app.test_client()

    first = client.post("/opened/backup.bin", headers=headers("unsized"), buffered=False)
    try:
        [file] = opened_files(file_app)
        [key] = stored_keys(file_app)
        # The limit's worth and the chunk that went past it; the rest is read as it is sent.
        assert file.bytes_read <= LIMIT + CHUNK
        assert (key.response_kept, key.response_bytes) == (False, None)
        assert first.status_code == 200
        assert first.get_data() == content(size)
    finally:
        first.close()
    assert file.closed

    retry = client.post("/opened/backup.bin", headers=headers("unsized"))
    assert retry.status_code == 410
    assert charges(file_app) == 1


def test_a_file_at_the_limit_is_kept(file_app: Flask, files: Path) -> None:
    (files / "exact.bin").write_bytes(content(LIMIT))
    client = file_app.test_client()

    first = client.post("/disk/exact.bin", headers=headers("exact"))
    retry = client.post("/disk/exact.bin", headers=headers("exact"))

    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.data == first.data == content(LIMIT)


def test_a_file_the_front_server_would_send_is_sent_and_stored_by_the_app(
    make_app: Callable[..., Flask], files: Path
) -> None:
    # With USE_X_SENDFILE the body is empty and the front server sends the file named in
    # X-Sendfile: a file that fits is read and sent by the app instead, so that the retry gets
    # it too; a larger one is left to the front server, and not kept.
    app = make_app(
        USE_X_SENDFILE=True, IDEMPOTENCY_MAX_RESPONSE_SIZE=LIMIT, FILE_DIRECTORY=str(files)
    )
    register_file_views(app)
    (files / "small.pdf").write_bytes(PDF)
    (files / "large.bin").write_bytes(content(LIMIT + 1))
    client = app.test_client()

    first = client.post("/disk/small.pdf", headers=headers("small"))
    retry = client.post("/disk/small.pdf", headers=headers("small"))
    large = client.post("/disk/large.bin", headers=headers("large"))
    large_retry = client.post("/disk/large.bin", headers=headers("large"))

    assert first.data == retry.data == PDF
    assert "X-Sendfile" not in first.headers and "X-Sendfile" not in retry.headers
    assert first.headers["Content-Length"] == retry.headers["Content-Length"] == str(len(PDF))
    assert retry.headers["Content-Disposition"] == "attachment; filename=small.pdf"
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert large.headers["X-Sendfile"] == str(files / "large.bin")
    assert large.data == b""
    assert large_retry.status_code == 410
    assert charges(app) == 2


# --- Not storable -------------------------------------------------------------------------------


def test_a_generator_stream_is_still_not_storable_even_passed_through(file_app: Flask) -> None:
    client = file_app.test_client()

    response = client.post("/generator", headers=headers("generator"))

    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    assert response.json is not None
    assert response.json["type"].endswith("#response-not-storable")
    assert charges(file_app) == 0
    [key] = stored_keys(file_app)
    assert key.response_code is None and key.locked_at is None


# --- Under a real server ------------------------------------------------------------------------


def served_app() -> Flask:
    """The ledger app with the file views, for ``gunicorn
    'tests.test_file_responses:served_app()'``."""
    app = create_app(
        os.environ["LEDGER_DATABASE_URL"],
        Path(os.environ["LEDGER_INSTANCE_PATH"]),
        TESTING=False,
        IDEMPOTENCY_MAX_RESPONSE_SIZE=LIMIT,
        FILE_DIRECTORY=os.environ["FILE_DIRECTORY"],
    )
    register_file_views(app)
    return app


@pytest.mark.concurrency
def test_gunicorn_sends_stores_and_replays_a_file_from_disk(
    file_app: Flask, files: Path, database_url: str, tmp_path: Path
) -> None:
    (files / "manual.pdf").write_bytes(PDF)
    (files / "video.bin").write_bytes(content(4 * LIMIT))

    with serve(
        "tests.test_file_responses:served_app()",
        tmp_path,
        workers=1,
        LEDGER_DATABASE_URL=database_url,
        LEDGER_INSTANCE_PATH=str(tmp_path),
        FILE_DIRECTORY=str(files),
    ) as server:
        first = call(server.port, "POST", "/disk/manual.pdf", headers=headers("manual"))
        retry = call(server.port, "POST", "/disk/manual.pdf", headers=headers("manual"))
        large = call(server.port, "POST", "/disk/video.bin", headers=headers("video"))
        large_retry = call(server.port, "POST", "/disk/video.bin", headers=headers("video"))

    assert first.status == retry.status == 200
    assert first.body == retry.body == PDF
    assert not first.replayed and retry.replayed
    assert first.headers["Content-Length"] == retry.headers["Content-Length"] == str(len(PDF))
    assert first.headers["Content-Type"] == retry.headers["Content-Type"] == "application/pdf"
    assert (
        first.headers["Content-Disposition"]
        == retry.headers["Content-Disposition"]
        == "attachment; filename=manual.pdf"
    )
    assert large.status == 200
    assert large.headers["Content-Length"] == str(4 * LIMIT)
    assert large.body == content(4 * LIMIT)
    assert large_retry.status == 410
    assert charges(file_app) == 2
