"""The error types of bad input (raised on the host before anything compiles) and of
a run stopped part way (Ctrl-C, a full disk)."""


class ConfigError(ValueError):
    """A bad setting or bad data: one line that names the value and says what to fix."""


def lookup(registry: dict, name: str, kind: str, hint: str = ""):
    """`registry[name]`, or a `ConfigError` that lists the names a `kind` can have."""
    if name not in registry:
        raise ConfigError(
            f"unknown {kind} {name!r}; choose one of {', '.join(registry)}{hint}"
        )
    return registry[name]


class Stopped(Exception):
    """A run stopped by Ctrl-C or a full disk after saving what it finished: one line
    that says what was saved and how to resume."""

    def __init__(self, message: str, interrupted: bool):
        super().__init__(message)
        self.interrupted = interrupted
