"""The one error type of bad input, raised on the host before anything compiles."""


class ConfigError(ValueError):
    """A bad setting or bad data: one line that names the value and says what to fix."""
