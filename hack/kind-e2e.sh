#!/usr/bin/env bash
# End-to-end run on a throwaway kind cluster (`make e2e-kind`):
# create the cluster, build and load the manager image, install the CRDs (kubeloop's and the
# stand-ins for the foreign kinds), deploy config/default, wait for the rollout, run the
# simulator's actors for the systems kind lacks (Karpenter, Crossplane, builds, Cluster API;
# not its kubelet: kind has real nodes) in the background, apply the samples, run tests/e2e,
# and delete the cluster. Every command is printed before it runs.
#
# Usage: hack/kind-e2e.sh [--dry-run] [--keep] [-- PYTEST_ARGS...]
#   --dry-run  print the commands, run none of them
#   --keep     keep the cluster afterwards (its kubeconfig is printed)
# Environment: KIND_CLUSTER (kubeloop-e2e), IMG (kubeloop:dev), SIM_ACTORS
# (karpenter,crossplane,builds,clusterapi), ARTIFACTS (.kubeloop/kind-e2e: kubeconfig and
# simulator log), KIND, CONTAINER_TOOL (docker), KUBECTL, MANAGER, PYTEST (the .venv's).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

KIND_CLUSTER="${KIND_CLUSTER:-kubeloop-e2e}"
IMG="${IMG:-kubeloop:dev}"
SIM_ACTORS="${SIM_ACTORS:-karpenter,crossplane,builds,clusterapi}"
ARTIFACTS="${ARTIFACTS:-$ROOT/.kubeloop/kind-e2e}"
KIND="${KIND:-kind}"
CONTAINER_TOOL="${CONTAINER_TOOL:-docker}"
KUBECTL="${KUBECTL:-$ROOT/.venv/bin/kubectl}"
MANAGER="${MANAGER:-$ROOT/.venv/bin/manager}"
PYTEST="${PYTEST:-$ROOT/.venv/bin/pytest}"
# Names from config/default (namePrefix kubeloop-, namespace kubeloop-system).
NAMESPACE=kubeloop-system
DEPLOYMENT=kubeloop-controller-manager

DRY_RUN=0
KEEP=0
PYTEST_ARGS=()

usage() {
  sed -n '2,/^set /s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

while (($# > 0)); do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --keep) KEEP=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    --)
      shift
      PYTEST_ARGS=("$@")
      break
      ;;
    *)
      echo "kind-e2e: unknown argument: $1" >&2
      usage >&2
      exit 2
      ;;
  esac
  shift
done

export KUBECONFIG="$ARTIFACTS/kubeconfig"

# The words as one shell command line, quoting only the words that need it.
quote() {
  local word words=()
  for word in "$@"; do
    if [[ "$word" =~ ^[A-Za-z0-9_@%+=:,./-]+$ ]]; then
      words+=("$word")
    else
      words+=("$(printf '%q' "$word")")
    fi
  done
  echo "${words[*]}"
}

# Print a command as `+ command line`, then run it unless --dry-run.
run() {
  echo "+ $(quote "$@")"
  if ((DRY_RUN)); then
    return 0
  fi
  "$@"
}

require() {
  local missing=() tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if ((${#missing[@]} > 0)); then
    echo "kind-e2e: not found: ${missing[*]} (kind and a Docker engine are needed; try --dry-run)" >&2
    exit 1
  fi
}

CREATED=0
SIM_PID=""

diagnostics() {
  echo "kind-e2e: failed; diagnostics follow" >&2
  "$KUBECTL" -n "$NAMESPACE" get pods -o wide >&2 || true
  "$KUBECTL" -n "$NAMESPACE" logs "deployment/$DEPLOYMENT" --tail=200 >&2 || true
  "$KUBECTL" get kubeloop --all-namespaces -o wide >&2 || true
  tail -n 100 "$ARTIFACTS/simulator.log" >&2 || true
}

cleanup() {
  local status=$?
  if [[ -n "$SIM_PID" ]] && kill -0 "$SIM_PID" 2>/dev/null; then
    run kill "$SIM_PID" || true
    wait "$SIM_PID" 2>/dev/null || true
  fi
  if ((status != 0 && !DRY_RUN && CREATED)); then
    diagnostics
  fi
  if ((CREATED && KEEP)); then
    echo "kind-e2e: kept cluster $KIND_CLUSTER; export KUBECONFIG=$KUBECONFIG"
  elif ((CREATED)); then
    run "$KIND" delete cluster --name "$KIND_CLUSTER"
  fi
  exit "$status"
}
trap cleanup EXIT

if ((!DRY_RUN)); then
  require "$KIND" "$CONTAINER_TOOL" "$KUBECTL" "$MANAGER" "$PYTEST"
fi

run mkdir -p "$ARTIFACTS"
echo "+ export KUBECONFIG=$(quote "$KUBECONFIG")"
run "$KIND" create cluster --name "$KIND_CLUSTER" --kubeconfig "$KUBECONFIG" --wait 120s
CREATED=1

run "$CONTAINER_TOOL" build -t "$IMG" .
run "$KIND" load docker-image "$IMG" --name "$KIND_CLUSTER"

# kind has none of the foreign systems: install stand-in CRDs for their kinds, then ours.
run "$KUBECTL" apply -k config/crd/external
run "$KUBECTL" apply -k config/crd
run "$KUBECTL" wait --for=condition=Established --timeout=60s crd --all

run "$KUBECTL" apply -k config/default
run "$KUBECTL" -n "$NAMESPACE" set image "deployment/$DEPLOYMENT" "manager=$IMG"
run "$KUBECTL" -n "$NAMESPACE" rollout status "deployment/$DEPLOYMENT" --timeout=180s

SIMULATE=("$MANAGER" simulate --kubeconfig "$KUBECONFIG" --actors "$SIM_ACTORS" --no-kubelet)
echo "+ $(quote "${SIMULATE[@]}") >$(quote "$ARTIFACTS/simulator.log") 2>&1 &"
if ((!DRY_RUN)); then
  "${SIMULATE[@]}" >"$ARTIFACTS/simulator.log" 2>&1 &
  SIM_PID=$!
fi

run "$KUBECTL" apply -k config/samples
if ((!DRY_RUN)) && ! kill -0 "$SIM_PID" 2>/dev/null; then
  echo "kind-e2e: the simulator exited; see $ARTIFACTS/simulator.log" >&2
  exit 1
fi
run env KUBELOOP_E2E=1 "$PYTEST" tests/e2e "${PYTEST_ARGS[@]}"
