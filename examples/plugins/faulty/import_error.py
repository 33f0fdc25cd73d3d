"""Imports a module that does not exist: the plugin is not loaded."""

import studio_pipeline_module_that_is_not_installed  # noqa: F401


def registerCallbacks(reg):
    pass
