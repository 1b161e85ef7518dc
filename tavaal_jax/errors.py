"""Errors that mean the user has to change something (config, paths, data).

The driver turns every `UserError` into one line on stderr and a non-zero exit,
before any training starts, instead of a traceback.
"""


class UserError(Exception):
  """Base class: bad input that the user can fix; the message says how."""


class ConfigError(UserError, ValueError):
  """A config field has an invalid value; the message names the field."""


class DataError(UserError, ValueError):
  """A dataset cannot be found or read; the message says how to provide it."""
