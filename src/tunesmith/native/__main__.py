"""``python -m tunesmith.native``: build the C++ generation steps (``make install`` runs it)."""

from tunesmith.native import main

raise SystemExit(main())
