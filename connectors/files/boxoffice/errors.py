"""What makes a box-office file unusable as a whole (nothing is written)."""

from consent_hub.errors import BadRequest


class FileImportError(BadRequest):
    """The file cannot be imported (unreadable, wrong type, missing columns); nothing was written."""


class MappingError(FileImportError):
    """The column mapping is invalid; nothing was imported."""
