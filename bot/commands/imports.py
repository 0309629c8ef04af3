"""smserror imports (placeholder until its issue lands)."""


def add_parser(sub):
    return sub.add_parser("import", help="(not built yet)")


def run(args) -> int:
    raise SystemExit("smserror: import is not built yet")
