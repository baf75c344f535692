#!/bin/bash
# Seed 000's growth study (docs/seed000-growth.md): eleven `ntk lmin` runs, both sweeps, three
# seeds each; every run writes benchmarks/results/growth/NAME.json and NAME.txt, and the log its
# time. About 9 minutes on 2 CPU cores.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
R=benchmarks/results/growth
mkdir -p $R
run() { name=$1; shift; echo "== $name: ntk lmin $*" >> $R/log.txt; s=$(date +%s);
  "$PY" -m ntktui lmin "$@" --seeds 3 --out $R/$name.json --plot-width 78 > $R/$name.txt 2>&1
  echo "   rc=$? $(( $(date +%s)-s )) s" >> $R/log.txt; }
W="--sweep both --samples 25,50,100,200,400,800 --fixed-n 200 --widths 500,1000,2000,4000,8000,16000"
run default $W
run freq3 $W --act cos --scale 3
run freq10 $W --act cos --scale 10
run ntkparam $W --param ntk --sigma-w 1
run wide2 $W --hidden 400,8N --wide 2
run depth1 $W --hidden 8N
run gaussian $W --dataset gaussian
run uniform $W --dataset uniform
run beta01 $W --sigma-w 0.1
run beta002 $W --sigma-w 0.02
run depth3 $W --hidden 8N,400,400
"$PY" $R/summarise.py > $R/summary.txt
