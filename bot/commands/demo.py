"""smserror demo (placeholder until its issue lands)."""


def add_parser(sub):
    return sub.add_parser("demo", help="(not built yet)")


def run(args) -> int:
    raise SystemExit("smserror: demo is not built yet")
