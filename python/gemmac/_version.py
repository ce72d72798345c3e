# The package version: gemmac's (GEMMAC_VERSION_STRING); build_backend reads it too.
__version__ = "0.3.0"
