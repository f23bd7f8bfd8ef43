"""Piccolo CLI entry point (`PICCOLO_CONF=piccolo_conf piccolo …` from the repository root).

The configuration lives in the package (`definewtf.piccolo_conf`) so that the installed
`definewtf migrate` finds it from any directory; this file re-exports it for Piccolo's CLI.
"""

from definewtf.piccolo_conf import APP_REGISTRY, __getattr__  # noqa: F401
