"""Errors that name what is wrong with a user's input (the CLI turns them into exit status 2)."""


class PlastinferInputError(ValueError):
    """Bad user input: a missing or malformed file, config or data set."""


class DatasetError(PlastinferInputError):
    """A data set whose fields are missing, malformed, non-finite or inconsistent."""


class ConfigError(PlastinferInputError):
    """A malformed or inconsistent configuration."""
