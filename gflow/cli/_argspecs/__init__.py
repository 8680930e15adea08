"""The hot commands' argument tables, one module each: see `gflow.cli.fastargs`."""
