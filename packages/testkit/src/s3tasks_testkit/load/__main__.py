"""`python -m s3tasks_testkit.load` (what `make load` runs): see `cli`."""

import sys

from s3tasks_testkit.load.cli import main

sys.exit(main())
