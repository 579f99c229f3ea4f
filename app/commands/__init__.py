"""One module per sub-command, each exposing ``add_arguments(parser)`` and ``run(args) -> int``."""
