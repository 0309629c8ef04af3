"""smserror lookup (placeholder until its issue lands)."""


def add_parser(sub):
    return sub.add_parser("lookup", help="(not built yet)")


def run(args) -> int:
    raise SystemExit("smserror: lookup is not built yet")
