#!/usr/bin/env bash
# Measures `bot plan` end to end on a generated fleet of 10,000 nodes in 100 clusters and 250
# racks, in a real git repository: wall time and peak memory (max RSS) of the whole command,
# for a change that touches one image and one that touches every cluster.
#
#   scripts/bench-plan.sh [RUNS]     (default 5 runs each)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
command -v /usr/bin/time >/dev/null || { echo "bench-plan: needs /usr/bin/time (apt-get install time)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/bot" ./cmd/bot
go build -o "$work/fleetgen" ./cmd/fleetgen
repo=$work/fleet
git_() { git -C "$repo" -c user.name=bench -c user.email=bench@localhost "$@"; }

"$work/fleetgen" --out "$repo"
git_ init -q && git_ add -A && git_ commit -qm base
"$work/fleetgen" --out "$repo" --agent-packages "xfsprogs=6.1.0-1 gdisk=1.0.9-2.1"
git_ commit -qam one-image && git_ branch -q one-image && git_ reset -q --hard HEAD~1
"$work/fleetgen" --out "$repo" --nameserver 10.0.0.54
git_ commit -qam every-cluster && git_ branch -q every-cluster

echo "fleet: $(find "$repo" -name '*.yaml' -not -path '*/.git/*' | wc -l) YAML files, $(du -sh --exclude=.git "$repo" | cut -f1)"
for head in one-image every-cluster; do
  for _ in $(seq "$runs"); do
    /usr/bin/time -f "$head: %e s wall, %U s user, %M KB max RSS" \
      "$work/bot" plan --repo "$repo" --base "$head~1" --head "$head" --format json --output "$work/plan.json"
  done
done
