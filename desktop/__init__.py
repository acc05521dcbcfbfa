"""DSPy Workbench desktop app (PySide6). Shows engine objects and calls the engine; no domain work."""
