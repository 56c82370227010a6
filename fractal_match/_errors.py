"""Error types. Every message is one line that names the input and what is allowed."""


class FractalMatchError(Exception):
    """Base class for problems caused by the caller's input (the CLI shows the message, no traceback)."""


class ImageError(FractalMatchError):
    """An image file cannot be read, written or used."""


class ParameterError(FractalMatchError, ValueError):
    """An argument has a value that is not allowed."""


class DegenerateError(ParameterError):
    """A similarity score is mathematically undefined for these inputs (e.g. a constant template)."""


class ConfigError(FractalMatchError):
    """An experiment configuration file is invalid."""
