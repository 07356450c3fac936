#!/usr/bin/env bash
# Record attempts (issue 14), stage 2: each configuration chosen on validation accuracy by the
# stage-1 grids (sweeps/records_*.yaml), trained longer with seeds 0, 1 and 2; the test set is
# evaluated once per final model. Two runs at a time (JOBS=2), one BLAS thread each (2 cores).
#   bash sweeps/records_final.sh [GROUP...]        # default: every group below
#   python -m experiments.report records augment   # then the table and the figures
# MNIST_DIR and FASHION_DIR name the data folders (default: nbnet's own search). A run that was
# killed is resumed from its last checkpoint; a finished one is not trained again.
set -euo pipefail
cd "$(dirname "$0")/.."
mnist=${MNIST_DIR:+--data_dir $MNIST_DIR}
fashion=${FASHION_DIR:+--data_dir $FASHION_DIR}
common="-nhl 2 -sz 1024 -a ReLU -o nadam -lr 0.001 --lr_schedule cosine -w_d 0 -b 64 --ema 0.999"
declare -A groups=(
  [mnist_plain]="-d mnist $mnist $common -e 50 --dropout 0.3 --input_dropout 0.2"
  [mnist_augment]="-d mnist $mnist $common -e 80 --augment affine --dropout 0.2"
  [fashion_mnist_plain]="-d fashion_mnist $fashion $common -e 50 --dropout 0.3"
  [fashion_mnist_augment]="-d fashion_mnist $fashion $common -e 60 --augment affine --aug_flip --aug_shift 0 --aug_rotate 0 --aug_scale 0 --dropout 0.3"
)
selected=("$@")
[ ${#selected[@]} -eq 0 ] && selected=(mnist_augment fashion_mnist_augment mnist_plain fashion_mnist_plain)
state() {  # "finished", "resume RUN_DIR" (killed after a checkpoint) or "new", for a group and seed
  python - "$1" "$2" <<'PY'
import json, sys
from pathlib import Path
state = "new"
for run in sorted(Path("runs/records", sys.argv[1]).glob("*/config.json")):
    if json.loads(run.read_text())["seed"] != int(sys.argv[2]):
        continue
    metrics = run.parent / "metrics.json"
    status = json.loads(metrics.read_text()).get("status") if metrics.exists() else None
    if status == "finished":
        state = "finished"
        break
    if (run.parent / "checkpoint.npz").exists():
        state = f"resume {run.parent}"
print(state)
PY
}
for group in "${selected[@]}"; do
  for seed in 0 1 2; do
    read -r what run_dir <<< "$(state "$group" "$seed")"
    case $what in
      finished) continue ;;
      resume) echo "python train.py --resume $run_dir $( [[ $group == mnist* ]] && echo "$mnist" || echo "$fashion" ) -q" ;;
      new) echo "python train.py ${groups[$group]} --seed $seed --threads 1 -q --wandb_mode disabled --runs_dir runs/records/$group" ;;
    esac
  done
done | xargs -P "${JOBS:-2}" -I{} bash -c '{} > /dev/null && echo "done: {}"'
