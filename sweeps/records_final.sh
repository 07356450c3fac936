#!/usr/bin/env bash
# Record attempts (issue 14), stage 2: each configuration chosen on validation accuracy by the
# stage-1 grids (sweeps/records_*.yaml), trained longer with seeds 0, 1 and 2; the test set is
# evaluated once per final model. Two runs at a time, one BLAS thread each (a 2-core machine).
#   bash sweeps/records_final.sh [GROUP...]        # default: every group below
#   python -m experiments.report records augment   # then the table and the figures
# MNIST_DIR and FASHION_DIR name the data folders (default: nbnet's own search).
set -euo pipefail
cd "$(dirname "$0")/.."
mnist=${MNIST_DIR:+--data_dir $MNIST_DIR}
fashion=${FASHION_DIR:+--data_dir $FASHION_DIR}
common="-nhl 2 -sz 1024 -a ReLU -o nadam -lr 0.001 --lr_schedule cosine -w_d 0 -b 64 --ema 0.999"
declare -A groups=(
  [mnist_plain]="-d mnist $mnist $common -e 50 @MNIST_PLAIN@"
  [mnist_augment]="-d mnist $mnist $common -e 80 --augment affine --dropout 0.2"
  [fashion_mnist_plain]="-d fashion_mnist $fashion $common -e 50 --dropout 0.3"
  [fashion_mnist_augment]="-d fashion_mnist $fashion $common -e 80 --augment affine --aug_flip @FASHION_AUGMENT@"
)
selected=("$@")
[ ${#selected[@]} -eq 0 ] && selected=(mnist_augment fashion_mnist_augment mnist_plain fashion_mnist_plain)
finished() {  # a finished run of this group and seed is already there: not trained again
  python - "$1" "$2" <<'PY'
import json, sys
from pathlib import Path
for run in Path("runs/records", sys.argv[1]).glob("*/metrics.json"):
    config = json.loads((run.parent / "config.json").read_text())
    if json.loads(run.read_text()).get("status") == "finished" and config["seed"] == int(sys.argv[2]):
        sys.exit(0)
sys.exit(1)
PY
}
for group in "${selected[@]}"; do
  for seed in 0 1 2; do
    finished "$group" "$seed" && continue
    echo "python train.py ${groups[$group]} --seed $seed --threads 1 -q --wandb_mode disabled --runs_dir runs/records/$group"
  done
done | xargs -P 2 -I{} bash -c '{} > /dev/null && echo "done: {}"'
