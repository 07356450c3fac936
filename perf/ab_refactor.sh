#!/usr/bin/env bash
# A/B of a refactor that must change nothing: the default run (python train.py), for a few
# epochs, at an earlier commit and at this one, in turns; prints every epoch's losses (full
# precision, to compare bit for bit) and seconds.
#
#   perf/ab_refactor.sh c2ba639 [epochs] [rounds]
# Needs NBNET_DATA_DIR (or the default data locations) and the project's virtual environment.
set -euo pipefail
cd "$(dirname "$0")/.."
before=${1:?give the commit to compare with}
epochs=${2:-2}
rounds=${3:-2}
python=${PYTHON:-python}
work=$(mktemp -d)
trap 'git worktree remove --force "$work/before" >/dev/null 2>&1; rm -rf "$work"' EXIT
git worktree add --detach "$work/before" "$before" >/dev/null 2>&1
for round in $(seq "$rounds"); do
    for side in before after; do
        dir=$PWD
        [ "$side" = before ] && dir=$work/before
        runs=$work/runs-$side-$round
        (cd "$dir" && "$python" train.py -e "$epochs" --runs_dir "$runs" --wandb_mode disabled \
            -q --no-save_model --no-evaluate_test >/dev/null)
        "$python" - "$runs" "$side" "$round" <<'PY'
import glob, json, sys
runs, side, round_ = sys.argv[1:]
(path,) = glob.glob(f"{runs}/*/metrics.json")
for m in json.load(open(path))["epochs"]:
    print(f"{side} round {round_} epoch {m['epoch']}: train_loss {m['train_loss']!r} "
          f"val_loss {m['val_loss']!r} {m['train_seconds']:.2f} s")
PY
    done
done
