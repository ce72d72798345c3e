# The package version (read by build_backend/gemmac_build.py too).
__version__ = "0.1.0"
