"""`dspy-workbench install-desktop [--uninstall]`: the app in the user's menu and file manager."""

from __future__ import annotations


def register(sub) -> None:
    from engine.cli.main import add_json_flag

    p = sub.add_parser("install-desktop",
                       help="add DSPy Workbench to your desktop's menu (entry and icons, for you only)")
    p.add_argument("--uninstall", action="store_true", help="remove what install-desktop added")
    add_json_flag(p)
    p.set_defaults(handler=cmd_install_desktop)


def cmd_install_desktop(args) -> int:
    from dataclasses import asdict

    from engine import desktop_entry
    from engine.cli.main import print_json

    result = desktop_entry.uninstall() if args.uninstall else desktop_entry.install()
    if args.json:
        print_json(asdict(result))
    elif args.uninstall:
        print(f"removed {len(result.files)} file(s) from {desktop_entry.data_home()}")
    else:
        print(f"installed the desktop entry and icons under {desktop_entry.data_home()} "
              f"(runs {result.launcher}); `dspy-workbench install-desktop --uninstall` removes them")
    return 0
