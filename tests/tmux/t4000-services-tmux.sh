#!/bin/sh
# The lifecycle scenarios of t3000-services again, under runner = tmux: each
# service is a window of the session's tmux session on the repository's
# private tmux server, and every promise of the process runner holds.
BERTH_TEST_RUNNER=tmux
BERTH_TEST_PORT_BASE=32500
. "$BERTH_SRCDIR/tests/integration/t3000-services.sh"
