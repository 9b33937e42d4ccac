"""`s3tasks-decrypt`: the escape hatch beside the browser. Decrypts a file downloaded as
ciphertext ("download the encrypted file") with the key from the share link's fragment."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from s3tasks_ece.aes128gcm import DecryptError
from s3tasks_ece.files import decrypt_file
from s3tasks_ece.keys import decode_secret


def _read_password() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("Password: ")
    return sys.stdin.readline().rstrip("\r\n")


def _key_joined(argv: list[str]) -> list[str]:
    """`--key K` as `--key=K`: a base64url key may begin with '-' (one in 64 do), which
    argparse would take for an option and refuse."""
    joined: list[str] = []
    rest = iter(argv)
    for arg in rest:
        value = next(rest, None) if arg == "--key" else None
        joined.append(arg if value is None else f"--key={value}")
    return joined


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="s3tasks-decrypt",
        description="Decrypt a file encrypted in the browser by s3tasks (RFC 8188 aes128gcm)."
        " OUT appears only when the whole file decrypted and verified.",
    )
    parser.add_argument(
        "--key", required=True, help="the part of the share link after '#' (base64url)"
    )
    parser.add_argument(
        "--password",
        action="store_true",
        help="the file was encrypted with a password: ask for it (read from standard input"
        " when that is not a terminal)",
    )
    parser.add_argument("input", type=Path, metavar="IN", help="the encrypted file")
    parser.add_argument("output", type=Path, metavar="OUT", help="where to write the plaintext")
    args = parser.parse_args(_key_joined(sys.argv[1:] if argv is None else argv))
    try:
        secret = decode_secret(args.key)
        size = decrypt_file(
            args.input, args.output, secret, _read_password if args.password else None
        )
    except DecryptError as error:
        print(f"s3tasks-decrypt: refused: {error}; nothing was written", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"s3tasks-decrypt: {error}", file=sys.stderr)
        return 2
    print(f"s3tasks-decrypt: {size} bytes verified and written to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
