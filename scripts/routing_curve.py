"""Quality-vs-cost curve of the routed QW-Net / TAA over k (and budgets): a thin wrapper of
``python -m qwplugin.routing.sweep`` (see its ``--help``), e.g.::

    python scripts/routing_curve.py --sequences 2 --k=-1,0,0.5,1,2 --out runs/routing_curve
"""

import sys

from qwplugin.routing.sweep import main

if __name__ == "__main__":
    sys.exit(main())
