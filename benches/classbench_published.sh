#!/usr/bin/env bash
# Makes the published ClassBench sets that `CLASSBENCH_DIR=DIR benches/run.sh` measures, with
# ClassBench's own tools, from a local ClassBench checkout:
#
#   benches/classbench_published.sh CLASSBENCH_SRC OUT_DIR
#
# CLASSBENCH_SRC: a checkout of ClassBench (Taylor & Turner's 2004 db_generator and
# trace_generator with their parameter files; github.com/jafingerhut/classbench keeps the
# original files with fixes for modern g++; the sets in BENCHMARKS.md were made from its
# commit 6dce57a). Writes OUT_DIR/{acl1,fw1,ipc1}_{1000,10000} (db_generator's filter sets:
# smoothness 2, address scope 0.5, application scope -0.1, the usual choices in the
# literature) and NAME_trace beside each (trace_generator: Pareto a = 1, b = 0.1, scaled to
# about 100,000 headers). Both tools seed their random numbers from the clock, so every run
# makes different sets of the same shape; db_generator drops redundant filters, so a set holds
# somewhat fewer than its nominal count.
set -euo pipefail
src=$(cd "${1:?usage: classbench_published.sh CLASSBENCH_SRC OUT_DIR}" && pwd)
mkdir -p "${2:?usage: classbench_published.sh CLASSBENCH_SRC OUT_DIR}"
out=$(cd "$2" && pwd)
make -C "$src/db_generator" >/dev/null
make -C "$src/trace_generator" >/dev/null
for seed in acl1 fw1 ipc1; do
  # trace_generator's scale: headers per filter, about 100,000 headers in all.
  for size_scale in 1000:120 10000:11; do
    size=${size_scale%:*} scale=${size_scale#*:}
    set_file="$out/${seed}_$size"
    "$src/db_generator/db_generator" -bc "$src/parameter_files/${seed}_seed" "$size" 2 0.5 -0.1 "$set_file" >/dev/null
    (cd "$out" && "$src/trace_generator/trace_generator" 1 0.1 "$scale" "$set_file" >/dev/null)
    echo "$(basename "$set_file"): $(wc -l < "$set_file") filters, $(wc -l < "${set_file}_trace") headers"
  done
done
