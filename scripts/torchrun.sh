#!/usr/bin/env bash
# Training with torchrun on one node or several. Lightning sees torchrun's environment and
# does not start processes of its own. The Hydra run dir is pinned (RUN_DIR) so that every
# rank, and every restart of a failed run (MAX_RESTARTS), uses one directory, and ckpt_path=last
# resumes from the newest checkpoint in it.
#
# Usage (from anywhere; the command runs in the repository root):
#   scripts/torchrun.sh 8 experiment=resnest_cls data.root=/data/imagenet     # 8 GPUs here
#   # two nodes: run this on each, with the same RUN_DIR on a shared file system
#   NNODES=2 NODE_RANK=<0|1> MASTER_ADDR=<node 0> RUN_DIR=/shared/logs/train/run1 \
#       scripts/torchrun.sh 8 experiment=resnest_cls data.root=/data/imagenet
# Environment: NNODES (1), NODE_RANK (0), MASTER_ADDR (127.0.0.1), MASTER_PORT (29500),
# MAX_RESTARTS (0), RUN_DIR (one node: logs/train/torchrun/<time>_<hex>). The trainer is
# trainer=ddp unless the overrides pick another trainer preset.
set -euo pipefail

fail() {
    echo "torchrun.sh: $*" >&2
    exit 2
}

if [[ $# -lt 1 || $1 == -h || $1 == --help ]]; then
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
gpus=$1
shift
[[ $gpus =~ ^[1-9][0-9]*$ ]] || fail "the first argument is the number of GPUs per node, not '$gpus'"
nodes=${NNODES:-1}
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ -z ${RUN_DIR:-} ]]; then
    [[ $nodes == 1 ]] || fail "with NNODES=$nodes set RUN_DIR to one directory that every node sees"
    RUN_DIR="$PWD/logs/train/torchrun/$(date +%Y-%m-%d_%H-%M-%S)_$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
fi
export RUN_DIR
trainer=(trainer=ddp)
for override in "$@"; do
    [[ $override == trainer=* ]] && trainer=()
done
exec torchrun --nnodes="$nodes" --nproc-per-node="$gpus" --node-rank="${NODE_RANK:-0}" \
    --master-addr="${MASTER_ADDR:-127.0.0.1}" --master-port="${MASTER_PORT:-29500}" \
    --max-restarts="${MAX_RESTARTS:-0}" \
    src/train.py "${trainer[@]}" trainer.num_nodes="$nodes" trainer.devices="$gpus" \
    ckpt_path=last "$@"
