"""Has no registerCallbacks function: the plugin is not loaded."""


def register_callbacks(reg):
    """Misspelled: upstream looks for registerCallbacks."""
