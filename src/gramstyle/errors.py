"""The one exception a user can cause: the CLI prints it as one line and exits non-zero."""


class GramstyleError(Exception):
    """A problem with the user's input or environment (bad file, option, layer name...)."""
