"""Request bodies read as text or refused: one request class for every form web has, and for
the JSON the upload script sends in a form's stead.

Litestar decodes a multipart field with the part's charset (UTF-8 unless it names another) and
lets the `UnicodeDecodeError` (or a `LookupError`, for a charset that does not exist) escape
as a 500; an URL-encoded field it decodes with every bad byte replaced by U+FFFD, so a form
would be taken with words its sender never wrote; JSON that is not UTF-8 escapes as a
`UnicodeDecodeError` too. All of them become the same refusal here, `FormNotText` (400, in the
site's words: `pages/errors.py`), whichever route reads the body. It is caught at the parser
rather than by a handler for `UnicodeDecodeError` app-wide, which would also pass off a
decoding bug anywhere else in web as the visitor's bad form. The streamed upload form reads
its own fields (`uploads/multipart_stream.py`) and refuses them the same way.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from litestar import Request
from litestar.datastructures import FormMultiDict
from litestar.enums import RequestEncodingType

from s3tasks_web.errors import FormNotText


class TextRequest(Request[Any, Any, Any]):
    async def form(self) -> FormMultiDict:
        try:
            if self.content_type[0] == RequestEncodingType.URL_ENCODED:
                # strict where Litestar replaces: the raw bytes and every %-escape as UTF-8
                parse_qsl((await self.body()).decode(), keep_blank_values=True, errors="strict")
            return await super().form()
        except (UnicodeDecodeError, LookupError) as exc:
            raise FormNotText from exc

    async def json(self) -> Any:
        try:
            return await super().json()
        except UnicodeDecodeError as exc:
            raise FormNotText from exc
