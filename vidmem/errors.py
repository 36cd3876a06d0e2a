"""User-facing errors: the CLI prints ``error: <message>`` for these, without a traceback."""


class VidmemError(Exception):
    """Base class for errors whose message is meant for the user as one line."""


class VideoError(VidmemError):
    """The video cannot be opened or decoded (missing, not a video, corrupt, no frames, codec)."""


class StoreError(VidmemError):
    """The store directory is not a store, is from a newer schema, or is inconsistent."""


class TextInputError(VidmemError):
    """A subtitle, caption or OCR input is malformed or its engine is missing."""


class QueryError(VidmemError):
    """The question cannot be asked of this store (no text channel, bad options)."""


class TextWarning(UserWarning):
    """A subtitle, caption or OCR input had a fixable problem (dropped or clipped cue, odd encoding)."""


class VideoWarning(UserWarning):
    """Part of a video could not be read and was skipped; the message names the file and time range."""


class StoreWarning(UserWarning):
    """A store was usable but not as found: a damaged index rebuilt, an index kept in memory, read-only."""
