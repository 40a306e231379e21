"""The exceptions a user can cause; the CLI prints each as one line and exits non-zero."""


class GramstyleError(Exception):
    """A problem with the user's input or environment (bad file, option, layer name...)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so the same clean-up runs; the CLI exits 143, not 130."""


class TooLarge(GramstyleError):
    """An input over a size limit (bytes or pixels): a bomb, or more than a server accepts."""


class DiskFull(GramstyleError):
    """A write found no room (ENOSPC, EDQUOT); nothing half-written was left behind."""


def out_of_memory(e: BaseException) -> bool:
    """True for a dependency's way of saying it ran out of memory (not a bug of ours)."""
    if isinstance(e, MemoryError):
        return True
    text = str(e).lower()
    return isinstance(e, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text or "not enough memory" in text
    )
