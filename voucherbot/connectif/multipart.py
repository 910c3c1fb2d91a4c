"""A streaming ``multipart/form-data`` body for the import upload.

``requests`` builds a multipart body in memory (``files=``), which holds a large CSV twice. This
body is a file-like object with a known length: ``requests`` sends it with a ``Content-Length``
header and reads it in blocks, so the CSV is streamed from disk.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ").replace("\n", " ")


class MultipartBody:
    """Form fields, then one file part; read once from the start (``open()`` again to retry).

    ``on_first_read`` is called once, before the first byte is handed out: the moment the
    upload can first have reached the server (:attr:`started` tells afterwards).
    """

    def __init__(
        self,
        fields: dict[str, str],
        file_field: str,
        file_path: Path,
        *,
        filename: str,
        content_type: str,
        on_first_read: Callable[[], None] | None = None,
    ) -> None:
        self._on_first_read = on_first_read
        #: whether any byte of the body has been handed out to be sent
        self.started = False
        self.boundary = "voucherbot-" + secrets.token_hex(16)
        head = bytearray()
        for name, value in fields.items():
            head += (
                f'--{self.boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"'
                f"\r\n\r\n{value}\r\n"
            ).encode()
        head += (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{_quote(file_field)}"; '
            f'filename="{_quote(filename)}"\r\nContent-Type: {content_type}\r\n\r\n'
        ).encode()
        self._head = bytes(head)
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()
        self._path = file_path
        self._file_size = os.path.getsize(file_path)
        self._parts: list[bytes | BinaryIO] = []
        self._file: BinaryIO | None = None

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return len(self._head) + self._file_size + len(self._tail)

    def open(self) -> MultipartBody:
        """Start (or restart) reading from the first byte."""
        self.close()
        self._file = open(self._path, "rb")  # noqa: SIM115 - closed in close()
        self._parts = [self._head, self._file, self._tail]
        return self

    def read(self, size: int = -1) -> bytes:
        if not self.started and size != 0:
            self.started = True
            if self._on_first_read is not None:
                self._on_first_read()
        out = bytearray()
        while self._parts and (size < 0 or len(out) < size):
            part = self._parts[0]
            want = -1 if size < 0 else size - len(out)
            if isinstance(part, bytes):
                chunk = part if want < 0 else part[:want]
                rest = part[len(chunk) :]
                if rest:
                    self._parts[0] = rest
                else:
                    self._parts.pop(0)
            else:
                chunk = part.read(want)
                if not chunk or want < 0:
                    self._parts.pop(0)
            out += chunk
        return bytes(out)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._parts = []

    def __enter__(self) -> MultipartBody:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()
