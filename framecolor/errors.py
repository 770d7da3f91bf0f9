"""The error type for what a user hands the library: it names the file and says what is wrong."""
from __future__ import annotations

import os
from pathlib import Path


class InputError(Exception):
    """A file or value a user gave cannot be used. `path`: the file (None when the error is about a
    value); `reason`: what is wrong with it, and what to do. str(): '<path>: <reason>', one line."""

    def __init__(self, reason: str, path: str | os.PathLike | None = None):
        self.reason, self.path = reason, None if path is None else Path(path)
        super().__init__(reason if path is None else f"{path}: {reason}")

    def __reduce__(self):  # copy and pickle with the path and the reason, not the joined message
        return type(self), (self.reason, self.path)
