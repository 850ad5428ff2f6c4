#!/usr/bin/env bash
# Dependencies point down only (docs/design.md): every #include "dir/..." in a
# module folder names that folder or one below it in this order, and nothing
# below run/ includes the config.
set -euo pipefail
src=${QATC_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
order=(base autograd ops optim quant store data nn qat eval io train run)
rank() { local i; for i in "${!order[@]}"; do [ "${order[$i]}" = "$1" ] && { echo "$i"; return; }; done; echo -1; }
bad=0
for dir in "${order[@]}"; do
    r=$(rank "$dir")
    while IFS= read -r line; do
        file=${line%%:*}
        inc=$(sed -E 's/.*#include "([^"]+)".*/\1/' <<< "${line#*:}")
        [[ $inc == */* ]] || continue
        top=${inc%%/*}
        ir=$(rank "$top")
        if [ "$ir" -lt 0 ] || [ "$ir" -gt "$r" ]; then
            echo "FAIL: $file includes $inc ($top is not below $dir)" >&2
            bad=1
        fi
    done < <(grep -rn --include='*.c' --include='*.h' '^#include "' "$src/$dir" | sed "s|^$src/||")
done
if grep -rln --include='*.c' --include='*.h' '#include "run/' "$src"/{base,autograd,ops,optim,quant,store,data,nn,qat,eval,io,train} >&2; then
    echo "FAIL: the files above include run/ (the config) from below run/" >&2
    bad=1
fi
[ $bad -eq 0 ] && echo "layering ok: ${order[*]}"
exit $bad
