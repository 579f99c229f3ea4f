"""Exception types for mistakes a user can fix (reported as one line, exit code 2)."""


class UserError(Exception):
    """A problem with the user's input or environment: printed as one line, no traceback."""


class SchemaTooNewError(UserError):
    """The database was written by a newer reidwatch."""
