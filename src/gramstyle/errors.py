"""The exceptions a user can cause; the CLI prints each as one line and exits non-zero."""


class GramstyleError(Exception):
    """A problem with the user's input or environment (bad file, option, layer name...)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so the same clean-up runs; the CLI exits 143, not 130."""


class TooLarge(GramstyleError):
    """An input over a size limit (bytes or pixels): a bomb, or more than a server accepts."""
