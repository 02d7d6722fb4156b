"""The one error type of bad input, raised on the host before anything compiles."""


class ConfigError(ValueError):
    """A bad setting or bad data: one line that names the value and says what to fix."""


def lookup(registry: dict, name: str, kind: str, hint: str = ""):
    """`registry[name]`, or a `ConfigError` that lists the names a `kind` can have."""
    if name not in registry:
        raise ConfigError(
            f"unknown {kind} {name!r}; choose one of {', '.join(registry)}{hint}"
        )
    return registry[name]
