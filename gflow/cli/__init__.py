"""One module per command; each has `build_parser()` and `main(argv=None)`."""
