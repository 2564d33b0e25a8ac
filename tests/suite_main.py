"""The driver of the Python test suites that CTest runs as `test_X.py --trixc
PATH [unittest arguments]` (tests/graph, tests/lsp, tests/editor): reads
--trixc, sets the module's TRIXC to its absolute path and runs the module's
tests with unittest (verbosity 2; any other arguments go to unittest, e.g.
`-k name`). Use:

    if __name__ == "__main__":
        sys.path.insert(0, str(REPO / "tests"))
        import suite_main
        suite_main.run(sys.modules[__name__])
"""

import argparse
import os
import sys
import unittest


def run(module):
    ap = argparse.ArgumentParser(description=(module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else None)
    ap.add_argument("--trixc", required=True, help="the trixc binary to test")
    args, rest = ap.parse_known_args()
    module.TRIXC = os.path.abspath(args.trixc)
    unittest.main(module=module, argv=[sys.argv[0]] + rest, verbosity=2)
