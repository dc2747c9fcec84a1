import sys

from load_tests.cli import main

sys.exit(main())
