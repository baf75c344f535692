#!/bin/bash
# seed 000 growth study: every run writes benchmarks/results/growth/NAME.json and .txt
cd /work/wt-fidelity
export PYTHONPATH=$PWD
R=benchmarks/results/growth
run() { name=$1; shift; echo "== $name: ntk lmin $*" >> $R/log.txt; s=$(date +%s);
  nice -n 5 /work/main/.venv/bin/python -m ntktui lmin "$@" --seeds 3 --out $R/$name.json --plot-width 78 > $R/$name.txt 2>&1; echo "   rc=$? $(( $(date +%s)-s )) s" >> $R/log.txt; }
W="--sweep both --samples 25,50,100,200,400,800 --fixed-n 200 --widths 500,1000,2000,4000,8000,16000"
run default $W
run freq3 $W --act cos --scale 3
run freq10 $W --act cos --scale 10
run ntkparam $W --param ntk --sigma-w 1
run wide2 --sweep both --samples 25,50,100,200,400,800 --hidden 400,8N --wide 2 --fixed-n 200 --widths 500,1000,2000,4000,8000,16000
run depth1 $W --hidden 8N
run gaussian $W --dataset gaussian
run uniform $W --dataset uniform
run beta01 $W --sigma-w 0.1
run beta002 $W --sigma-w 0.02
run depth3 $W --hidden 8N,400,400
