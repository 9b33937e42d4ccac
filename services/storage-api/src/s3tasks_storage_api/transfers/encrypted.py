"""Uploads encrypted in the visitor's browser (docs/encryption.md): storage-api sees the
ciphertext's size, the RFC 8188 header's length and an encrypted metadata blob, and from the
first two alone knows every part's exact length (parts of whole records, the header at the
start of part 1), so it signs each part as exactly as a plain upload's."""

from __future__ import annotations

from s3tasks_contracts import Encryption, ItemKind
from s3tasks_ece.layout import PART_SIZE, Layout
from s3tasks_servicekit.sizes import human_size
from s3tasks_storage_api.errors import InvalidInput

#: the name an encrypted item has on the server (its own is in the encrypted metadata): what a
#: page without JavaScript shows, and what "download the encrypted file" saves
ENCRYPTED_FILENAME = "encrypted.s3tasks"


def encrypted_layout(
    kind: ItemKind, size: int | None, encryption: Encryption, max_metadata: int
) -> Layout:
    """The upload's layout, refusing in words what no browser of this site would send."""
    if kind is not ItemKind.FILE:
        raise InvalidInput("Only files can be encrypted in the browser here, not images.")
    if size is None:
        raise InvalidInput("An encrypted upload must declare its encrypted size.")
    if len(encryption.metadata) > max_metadata:
        raise InvalidInput(
            f"The encrypted name and description are {human_size(len(encryption.metadata))};"
            f" at most {human_size(max_metadata)} are kept. Shorten the description."
        )
    try:
        return Layout.from_ciphertext(size, encryption.header_size)
    except ValueError:
        raise InvalidInput(
            f"{size} bytes is not the size of an encrypted file with a"
            f" {encryption.header_size}-byte header: the upload script and the site disagree"
            " on the format. Reload the page."
        ) from None


def encrypted_part_size(header_size: int) -> int:
    """The most one part carries: part 1, with the header."""
    return PART_SIZE + header_size


def encrypted_part_lengths(layout: Layout, numbers: list[int]) -> dict[int, int | None]:
    beyond = [n for n in numbers if n > layout.parts]
    if beyond:
        raise InvalidInput(
            f"This encrypted upload of {human_size(layout.ciphertext_size)} is sent in"
            f" {layout.parts} parts: part {beyond[0]} is beyond its last part."
        )
    return {n: layout.part_size(n) for n in numbers}
