"""``python -m audits``: see :mod:`audits.cli`."""

from audits.cli import main

main()
