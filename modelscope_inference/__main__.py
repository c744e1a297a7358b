"""``python -m modelscope_inference``: the same as the ``modelscope-inference`` command."""

import sys

from modelscope_inference.cli import main

if __name__ == "__main__":
    sys.exit(main())
