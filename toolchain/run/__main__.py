"""`python -m toolchain.run`: the ruby-wasm command."""
import sys

from .runner import main

sys.exit(main())
