"""The one error vocabulary of the atlas.

Every error a user can cause carries its HTTP meaning (``status``), a short machine ``code`` and a
``detail`` that says what was wrong and what to do instead. The web layer renders them all with one
handler; the core never imports Flask.
"""
from __future__ import annotations


class GeoError(Exception):
    """Base of all atlas errors. ``detail`` is the public message, safe to show to anyone;
    ``internal`` (paths, SQL, library messages) is for the operator's log only and never reaches a
    response."""

    status = 500
    code = "internal_error"

    def __init__(self, detail: str, *, parameter: str | None = None, status: int | None = None,
                 internal: str | None = None):
        super().__init__(detail if internal is None else f"{detail} ({internal})")
        self.detail = detail
        self.internal = internal
        self.parameter = parameter
        if status is not None:
            self.status = status

    @property
    def extra(self) -> dict:
        """Members of the error's body beyond error, detail and parameter (none by default)."""
        return {}

    def to_dict(self) -> dict:
        body = {"error": self.code, "detail": self.detail}
        if self.parameter is not None:
            body["parameter"] = self.parameter
        body.update(self.extra)
        return body


class InvalidParameter(GeoError):
    """A query parameter has the wrong form or an unknown value (HTTP 400)."""

    status = 400
    code = "invalid_parameter"


class NotFound(GeoError):
    """An unknown layer or feature (HTTP 404)."""

    status = 404
    code = "not_found"


class TooLarge(GeoError):
    """A request for more than may be answered at once (HTTP 413); the detail says how to get it."""

    status = 413
    code = "too_large"


class NotReady(GeoError):
    """Asked for too early: an export job that has not finished (HTTP 409)."""

    status = 409
    code = "not_ready"


class TooBusy(GeoError):
    """As much work of one kind as may run at once is running, e.g. export jobs (HTTP 429)."""

    status = 429
    code = "too_many_jobs"


class InvalidGeometry(GeoError):
    """A geometry that is empty, invalid or of the wrong type (HTTP 400). ``location`` is the
    (lon, lat) of the fault when one is known (a self-intersection), for the page to mark it."""

    status = 400
    code = "invalid_geometry"

    def __init__(self, detail: str, *, location: tuple[float, float] | None = None, **kwargs):
        super().__init__(detail, **kwargs)
        self.location = location

    @property
    def extra(self) -> dict:
        return {} if self.location is None else {"location": [self.location[0], self.location[1]]}


class Conflict(GeoError):
    """A write that clashes with what is stored, e.g. a key that is already taken (HTTP 409)."""

    status = 409
    code = "conflict"


class Stale(GeoError):
    """An edit made from an older version of a feature than the stored one (HTTP 412); ``current``
    is the stored version, so the caller can show what changed and let the editor try again."""

    status = 412
    code = "stale"

    def __init__(self, detail: str, *, current: int | None = None, key: str | None = None, **kwargs):
        super().__init__(detail, **kwargs)
        self.current = current
        self.key = key
        self.feature: dict | None = None  # the stored feature, where the caller adds it

    @property
    def extra(self) -> dict:
        body = {} if self.current is None else {"current_version": self.current}
        if self.feature is not None:
            body["current"] = self.feature
        return body


class CRSError(GeoError):
    """Data without a coordinate system, or in one we cannot use (HTTP 422)."""

    status = 422
    code = "crs_error"


class SourceError(GeoError):
    """A source file of the atlas is broken; the store is not rebuilt from it."""

    status = 500
    code = "source_error"


class ConfigError(GeoError):
    """An ATLAS_* setting has a value the atlas cannot use; raised at start-up."""

    code = "config_error"


class StoreError(GeoError):
    """The store is missing, unreadable or could not be written (HTTP 503)."""

    status = 503
    code = "store_unavailable"


class FileError(GeoError):
    """An error about one given file; ``file`` is its name (never a path on the server), in the
    body for the page to point at it."""

    def __init__(self, detail: str, *, file: str | None = None, **kwargs):
        super().__init__(detail, **kwargs)
        self.file = file

    @property
    def extra(self) -> dict:
        return {} if self.file is None else {"file": self.file}


class UnsafeFile(FileError):
    """An uploaded file or archive refused before anything is read from it (HTTP 400; 413 where
    it is too large): a path out of its folder, a zip bomb, a nested archive, a link, XML entities.
    The detail names the file, the problem and what to do."""

    status = 400
    code = "unsafe_file"


class UnreadableFile(FileError):
    """A file given to import that cannot be read as it is: of no format we know, truncated,
    corrupt (HTTP 422)."""

    status = 422
    code = "unreadable_file"


class EncodingError(GeoError):
    """Text that decodes in none of the encodings tried, e.g. a file of mixed encodings (HTTP 422);
    the detail names the row and field and says how to choose an encoding."""

    status = 422
    code = "encoding_error"


class MissingPart(UnreadableFile):
    """A file that needs a companion that was not given: a ``.shp`` without its ``.dbf`` (HTTP 422)."""

    code = "missing_part"


class EmptyFile(UnreadableFile):
    """A file of 0 bytes, or one that holds no features at all (HTTP 422)."""

    code = "empty_file"
