import sys

from tokenshuffle.cli import main

sys.exit(main())
