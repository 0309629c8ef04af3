"""smserror hygiene (placeholder until its issue lands)."""


def add_parser(sub):
    return sub.add_parser("hygiene", help="(not built yet)")


def run(args) -> int:
    raise SystemExit("smserror: hygiene is not built yet")
