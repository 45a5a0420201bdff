"""`python -m qilin.cli ...`: what a launcher runs in every process."""

import sys

from qilin.cli import main

sys.exit(main())
