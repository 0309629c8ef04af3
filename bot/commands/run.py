"""smserror run (placeholder until its issue lands)."""


def add_parser(sub):
    return sub.add_parser("run", help="(not built yet)")


def run(args) -> int:
    raise SystemExit("smserror: run is not built yet")
