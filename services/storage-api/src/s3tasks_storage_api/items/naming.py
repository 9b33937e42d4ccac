"""Filenames and descriptions from untrusted clients, made safe to store and to send back."""

from __future__ import annotations

import re
import unicodedata

from s3tasks_storage_api.errors import InvalidInput

# Control characters, bidi overrides/isolates and other invisible formatting characters:
# they can disguise an extension ("photo\u202egpj.exe") or break a header.
_UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
_SEPARATORS = re.compile(r"[\\/]+")
_SPACES = re.compile(r"\s+")


def clean_filename(raw: str, *, max_length: int) -> str:
    """The last path segment, NFC-normalised, without control/format characters.

    Refuses names that end up empty or consist only of dots, instead of guessing one.
    """
    if "\x00" in raw:
        raise InvalidInput("The filename contains a NUL byte.")
    name = unicodedata.normalize("NFC", raw)
    name = _SEPARATORS.split(name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in _UNSAFE_CATEGORIES)
    name = _SPACES.sub(" ", name).strip().rstrip(". ")
    if not name or set(name) <= {"."}:
        raise InvalidInput("The filename is empty or not usable.")
    if len(name) > max_length:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 16 and stem:
            name = stem[: max_length - len(ext) - 1] + "." + ext
        else:
            name = name[:max_length]
    return name


def clean_description(raw: str, *, max_length: int) -> str:
    if "\x00" in raw:
        raise InvalidInput("The description contains a NUL byte.")
    text = unicodedata.normalize("NFC", raw)
    text = "".join(
        ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in _UNSAFE_CATEGORIES
    ).strip()
    if len(text) > max_length:
        raise InvalidInput(f"The description is longer than {max_length} characters.")
    return text
