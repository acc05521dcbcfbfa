"""Errors a user can act on.

Every error the engine raises for bad input is a `WorkbenchError` whose message is one sentence
that names the file, row or setting and says what to do. The CLI prints it and exits with 2;
the GUI shows it in a message box. Anything else is a bug and keeps its traceback.
"""


class WorkbenchError(Exception):
    """A problem with the user's input or environment, explained in the message."""

    exit_code = 2


class ProjectError(WorkbenchError):
    """The project folder or its `project.toml` is missing or invalid."""


class DatasetError(WorkbenchError):
    """A data file cannot be read, mapped or split as asked."""


class LeakageError(DatasetError):
    """The same example (by id or by normalized inputs) sits in two splits."""

    def __init__(self, message: str, leaks: list | None = None):
        super().__init__(message)
        self.leaks = leaks or []


class ProgramError(WorkbenchError):
    """A program spec or signature is invalid."""


class MetricError(WorkbenchError):
    """A metric spec is invalid for the program."""


class OptimizerError(WorkbenchError):
    """An unknown optimizer, or a parameter it does not take or cannot accept."""


class ModelError(WorkbenchError):
    """An unknown model profile, a missing model file, an unreachable server."""


class RunNotFound(WorkbenchError):
    """A run id that is not in the project's history."""


class ArtifactError(WorkbenchError):
    """An artifact bundle that is incomplete, tampered with, or for another program."""


class UntrustedCodeError(WorkbenchError):
    """A Python file the project names (a metric, a program module) that the user has not trusted
    in this version. Carries what the GUI needs to offer "Trust this file?"."""

    def __init__(self, message: str, *, path=None, sha256: str = "", what: str = ""):
        super().__init__(message)
        self.path = path
        self.sha256 = sha256
        self.what = what
