"""DSPy Workbench engine: the domain, pure Python. Never imports Qt.

The CLI (`engine.cli`) and the desktop app (`desktop/`) are two faces on this package.
"""

__version__ = "0.1.0"
