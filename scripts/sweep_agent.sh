#!/usr/bin/env bash
# W&B sweep agents on one multi-GPU node: one agent per K GPUs, each pinned to its own GPUs.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/sweep_agent.sh SWEEP_ID [--gpus-per-run K] [--count N] [--python PATH] [--dry-run]

Starts floor(GPUs / K) W&B agents for SWEEP_ID (entity/project/id, as `wandb sweep` prints it).
Agent i sees only its own K GPUs (CUDA_VISIBLE_DEVICES); a preset with trainer=ddp
(devices=-1, e.g. experiment=resnest_cls) then trains each run DDP over exactly those K GPUs.
The GPUs are CUDA_VISIBLE_DEVICES when set, else every GPU that `nvidia-smi -L` lists.

  --gpus-per-run K  GPUs per run (default 1)
  --count N         runs per agent before it exits (default: until the sweep is done)
  --python PATH     the project's Python; the agent runs `python` = this interpreter
                    (default: $VIRTUAL_ENV, then $CONDA_PREFIX, then .venv, then python3)
  --dry-run         print each agent's GPUs and command instead of starting it

Agents run from the repository root (the sweep's `program: src/train.py` is relative to it);
their output goes to logs/sweeps/agents/agent_<i>.log. Ctrl-C stops them all.
EOF
}

fail() {
    echo "sweep_agent.sh: $*" >&2
    exit 2
}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SWEEP_ID=""
GPUS_PER_RUN=1
COUNT=""
PYTHON=""
DRY_RUN=0
while [[ $# -gt 0 ]]; do
    case $1 in
        -h | --help) usage; exit 0 ;;
        --gpus-per-run) GPUS_PER_RUN=${2:?--gpus-per-run needs a number}; shift 2 ;;
        --count) COUNT=${2:?--count needs a number}; shift 2 ;;
        --python) PYTHON=${2:?--python needs a path}; shift 2 ;;
        --dry-run) DRY_RUN=1; shift ;;
        -*) usage >&2; fail "unknown option $1" ;;
        *) [[ -z $SWEEP_ID ]] || fail "one SWEEP_ID only (got '$SWEEP_ID' and '$1')"; SWEEP_ID=$1; shift ;;
    esac
done
[[ -n $SWEEP_ID ]] || { usage >&2; fail "SWEEP_ID is missing"; }
[[ $GPUS_PER_RUN =~ ^[1-9][0-9]*$ ]] || fail "--gpus-per-run must be a positive integer, not '$GPUS_PER_RUN'"
[[ -z $COUNT || $COUNT =~ ^[1-9][0-9]*$ ]] || fail "--count must be a positive integer, not '$COUNT'"

# The GPUs of this node: the visible ones, else all that nvidia-smi lists (MIG lines excluded).
if [[ -n ${CUDA_VISIBLE_DEVICES+set} ]]; then
    IFS=',' read -r -a GPUS <<<"$CUDA_VISIBLE_DEVICES"
elif command -v nvidia-smi >/dev/null; then
    mapfile -t GPUS < <(nvidia-smi -L | awk '/^GPU [0-9]+:/ {sub(":", "", $2); print $2}')
else
    GPUS=()
fi
AGENTS=$((${#GPUS[@]} / GPUS_PER_RUN))
((AGENTS > 0)) || fail "found ${#GPUS[@]} GPU(s) (CUDA_VISIBLE_DEVICES or nvidia-smi -L), fewer than --gpus-per-run $GPUS_PER_RUN"
IDLE=$((${#GPUS[@]} - AGENTS * GPUS_PER_RUN))
((IDLE == 0)) || echo "sweep_agent.sh: $IDLE GPU(s) left idle: ${#GPUS[@]} is not a multiple of $GPUS_PER_RUN" >&2

# The project's interpreter, found in the usual environment locations and checked for the
# project's packages; the agent runs `${interpreter}` as `python` from PATH, so a shim named
# `python` that execs it goes first on the agents' PATH.
if [[ -z $PYTHON ]]; then
    for candidate in "${VIRTUAL_ENV:-}/bin/python" "${CONDA_PREFIX:-}/bin/python" "$REPO/.venv/bin/python"; do
        [[ $candidate != /bin/python && -x $candidate ]] && { PYTHON=$candidate; break; }
    done
    PYTHON=${PYTHON:-$(command -v python3 || command -v python || true)}
fi
[[ -n $PYTHON && -x $PYTHON ]] || fail "no Python found; pass --python /path/to/env/bin/python"
"$PYTHON" -c 'import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in ("lightning", "hydra", "wandb")))' ||
    fail "$PYTHON lacks lightning, hydra or wandb; pass the project's --python (pip install -e . in it)"

# Absolute, since the agent hands each run its parameter file as a path under WANDB_DIR.
WANDB_DIR=${WANDB_DIR:-$REPO/logs/sweeps/wandb}
[[ $WANDB_DIR == /* ]] || WANDB_DIR=$PWD/$WANDB_DIR
export WANDB_DIR
unset RUN_DIR  # each run gets logs/sweeps/<sweep id>/<run id> (configs/hydra/sweep_run.yaml)
SHIM=$(mktemp -d "${TMPDIR:-/tmp}/sweep_agent.XXXXXX")
trap 'rm -rf "$SHIM"' EXIT
printf '#!/bin/sh\nexec %q "$@"\n' "$PYTHON" >"$SHIM/python"
chmod +x "$SHIM/python"
AGENT=("$PYTHON" -m wandb agent ${COUNT:+--count "$COUNT"} "$SWEEP_ID")

cd "$REPO"
LOGS=$REPO/logs/sweeps/agents
PIDS=()
for ((i = 0; i < AGENTS; i++)); do
    DEVICES=$(IFS=','; echo "${GPUS[*]:i*GPUS_PER_RUN:GPUS_PER_RUN}")
    if ((DRY_RUN)); then
        echo "agent $i: CUDA_VISIBLE_DEVICES=$DEVICES PATH=$SHIM:\$PATH ${AGENT[*]}"
        continue
    fi
    mkdir -p "$WANDB_DIR" "$LOGS"
    echo "agent $i: GPUs $DEVICES, log $LOGS/agent_$i.log"
    CUDA_VISIBLE_DEVICES=$DEVICES PATH="$SHIM:$PATH" "${AGENT[@]}" >"$LOGS/agent_$i.log" 2>&1 &
    PIDS+=($!)
done
((DRY_RUN)) && exit 0
trap 'kill "${PIDS[@]}" 2>/dev/null; wait; rm -rf "$SHIM"' INT TERM
wait
