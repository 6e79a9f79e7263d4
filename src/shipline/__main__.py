import sys

from shipline.cli import main

sys.exit(main())
