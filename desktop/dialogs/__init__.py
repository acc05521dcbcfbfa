"""Dialogs: importing a data file, creating a project, auto-splitting."""
