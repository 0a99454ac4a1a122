#!/usr/bin/env bash
# Exit 0 when images/base/requirements.lock differs from the last lock images/check-lock.sh verified (the hash in
# images/base/requirements.lock.sha256), 1 when it is the same. For CI:
#   if images/lock-changed.sh; then images/check-lock.sh; fi
set -euo pipefail
cd "$(dirname "$0")/.."
LOCK=images/base/requirements.lock
current=$(sha256sum "$LOCK" | cut -d' ' -f1)
recorded=$(cat "$LOCK.sha256" 2>/dev/null || true)
if [ "$current" = "$recorded" ]; then
  echo "lock unchanged since its last check ($current)"
  exit 1
fi
echo "lock changed: $current (last checked: ${recorded:-never})"
exit 0
