import sys

from silkline.cli import main

sys.exit(main())
