import sys

from vidmem.cli import main

sys.exit(main())
