"""A multipart/form-data body read as a stream: small fields first, then the file, chunk by chunk.

The form puts the description before the file input, so it has arrived by the time the file
starts; the file part is never held in memory, each chunk is passed on as it comes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from s3tasks_contracts import MAX_SENT_FILENAME_LENGTH
from s3tasks_web.errors import FormNotText, UploadRejected
from s3tasks_web.uploads.rules import (
    DESCRIPTION_TOO_LONG,
    NAME_TOO_LONG,
    NO_FILE,
    filename_to_store,
)

_BAD_FORM = "The upload form was not sent completely. Please try again."
#: the form has one field before the file; a few more are tolerated, thousands are an attack.
MAX_FIELDS_BEFORE_FILE = 16
#: RFC 2046: a boundary has 1 to 70 characters (browsers send about 40).
MAX_BOUNDARY_LENGTH = 70
#: a part header line as long as the longest accepted file name can make it (4 bytes a
#: character in UTF-8) plus the rest of a Content-Disposition; checked by us, with words.
MAX_PART_HEADER_BYTES = MAX_SENT_FILENAME_LENGTH * 4 + 1024
#: the parser is fed at most this much at a time, so our header check (run by the callbacks at
#: the end of each write) comes before the parser's own, wordless one.
_WRITE_BYTES = 16 * 1024


@dataclass(frozen=True)
class _PartStart:
    name: str
    filename: str | None


@dataclass(frozen=True)
class _PartData:
    data: bytes


class _PartEnd:
    pass


class _BodyEnd:
    pass


_Event = _PartStart | _PartData | _PartEnd | _BodyEnd


@dataclass(frozen=True)
class FileHead:
    """The small fields that came before the file, and the name the file keeps (checked)."""

    fields: dict[str, str]
    filename: str


class MultipartStream:
    def __init__(
        self, content_type: str, body: AsyncIterator[bytes], *, max_field_bytes: int
    ) -> None:
        media_type, params = parse_options_header(content_type)
        boundary = params.get(b"boundary")
        if media_type != b"multipart/form-data" or not boundary:
            raise UploadRejected(400, "Please send the upload form (multipart/form-data).")
        if len(boundary) > MAX_BOUNDARY_LENGTH:
            raise UploadRejected(
                400,
                "The upload form is malformed: its boundary is longer than "
                f"{MAX_BOUNDARY_LENGTH} characters.",
            )
        self._body = body
        self._max_field_bytes = max_field_bytes
        self._events: deque[_Event] = deque()
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, bytes] = {}
        self._body_done = False
        try:
            self._parser = self._make_parser(boundary)
        except FormParserError as exc:  # any boundary the parser refuses, say so
            raise UploadRejected(
                400, "The upload form is malformed: its boundary is not valid."
            ) from exc

    def _make_parser(self, boundary: bytes) -> MultipartParser:
        return MultipartParser(
            boundary,
            max_header_size=MAX_PART_HEADER_BYTES + _WRITE_BYTES,
            callbacks={
                "on_part_begin": self._on_part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": lambda: self._events.append(_PartEnd()),
                "on_end": lambda: self._events.append(_BodyEnd()),
            },
        )

    # Parser callbacks: they only queue events; the async side consumes them.
    def _on_part_begin(self) -> None:
        self._headers = {}

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]
        if len(self._header_field) + len(self._header_value) > MAX_PART_HEADER_BYTES:
            if bytes(self._header_field).lower() == b"content-disposition":
                raise UploadRejected(400, NAME_TOO_LONG)
            raise UploadRejected(400, "The upload form has a part header that is too long.")

    def _on_header_end(self) -> None:
        self._headers[bytes(self._header_field).decode("latin-1").lower()] = bytes(
            self._header_value
        )
        self._header_field.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get("content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        raw_filename = params.get(b"filename")
        filename = None if raw_filename is None else raw_filename.decode("utf-8", "replace")
        self._events.append(_PartStart(name, filename))

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._events.append(_PartData(data[start:end]))

    async def _next_event(self) -> _Event:
        while not self._events:
            if self._body_done:
                raise UploadRejected(400, _BAD_FORM)
            try:
                chunk = await anext(self._body)
            except StopAsyncIteration:
                self._body_done = True
                self._parser.finalize()
                continue
            try:
                for start in range(0, len(chunk), _WRITE_BYTES):
                    self._parser.write(chunk[start : start + _WRITE_BYTES])
            except FormParserError as exc:
                raise UploadRejected(400, _BAD_FORM) from exc
        return self._events.popleft()

    async def read_until_file(self, file_field: str) -> FileHead:
        """Read the fields before `file_field`; stop where the file's bytes begin."""
        fields: dict[str, str] = {}
        current: str | None = None
        value = bytearray()
        while True:
            event = await self._next_event()
            if isinstance(event, _PartStart):
                if event.name == file_field and event.filename is not None:
                    return FileHead(fields, filename_to_store(event.filename))
                if event.name in fields or len(fields) >= MAX_FIELDS_BEFORE_FILE:
                    raise UploadRejected(
                        400,
                        "The upload form has too many fields."
                        if event.name not in fields
                        else "The upload form sent a field more than once.",
                    )
                current = event.name
                value.clear()
            elif isinstance(event, _PartData):
                value += event.data
                if len(value) > self._max_field_bytes:
                    raise UploadRejected(400, DESCRIPTION_TOO_LONG)
            elif isinstance(event, _PartEnd):
                if current is not None:
                    # refused as every other form's text is (`http/forms.py`), not replaced
                    try:
                        fields[current] = value.decode()
                    except UnicodeDecodeError as exc:
                        raise FormNotText from exc
                current = None
            else:
                raise UploadRejected(400, NO_FILE)

    async def file_chunks(self) -> AsyncIterator[bytes]:
        """The file part's bytes as they arrive (call after read_until_file), then the rest of
        the form up to its closing delimiter: the iteration ends only for a form that was sent
        completely, so the upload is finished (stored) only then."""
        while True:
            event = await self._next_event()
            if isinstance(event, _PartData):
                if event.data:
                    yield event.data
            elif isinstance(event, _PartEnd):
                await self._read_to_end()
                return
            else:
                return

    async def _read_to_end(self) -> None:
        """Read (and drop) what follows the file, as few and as small as the fields before it
        may be; a body that ends before the closing delimiter is refused in `_next_event`."""
        parts = 0
        part_bytes = 0
        while not isinstance(event := await self._next_event(), _BodyEnd):
            if isinstance(event, _PartStart):
                parts += 1
                part_bytes = 0
                if parts > MAX_FIELDS_BEFORE_FILE:
                    raise UploadRejected(400, "The upload form has too many fields.")
            elif isinstance(event, _PartData):
                part_bytes += len(event.data)
                if part_bytes > self._max_field_bytes:
                    raise UploadRejected(400, "The upload form has too much after the file.")
