"""``python -m web.cli``: the ``helpline`` command."""

from web.cli import main

raise SystemExit(main())
