import sys

from gflow.cli.multicall import main

sys.exit(main())
