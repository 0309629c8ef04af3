"""smserror poll (placeholder until its issue lands)."""


def add_parser(sub):
    return sub.add_parser("poll", help="(not built yet)")


def run(args) -> int:
    raise SystemExit("smserror: poll is not built yet")
