"""smserror digest (placeholder until its issue lands)."""


def add_parser(sub):
    return sub.add_parser("digest", help="(not built yet)")


def run(args) -> int:
    raise SystemExit("smserror: digest is not built yet")
