"""How jobs are run: `base` (the interface), `process` (shepherd processes), `shepherd` (the
program a shepherd runs), `runspec` (a Job turned into what to run)."""
