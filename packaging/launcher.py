"""Entry point of the frozen app (PyInstaller): one executable, both faces.

`dspy-workbench ...` is the CLI (`dspy-workbench app --sample support-triage` opens the window);
`dspy-workbench-gui [PATH]` (a link to the same executable, made by the build) is the window alone,
which is what the desktop entry runs with the file or folder the file manager hands it.
"""

import multiprocessing
import os
import sys


def main() -> int:
    multiprocessing.freeze_support()
    if os.path.basename(sys.argv[0]).removesuffix(".exe").endswith("-gui"):
        from desktop.app import main as gui_main

        return gui_main(sys.argv[1:])
    from engine.cli.main import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
