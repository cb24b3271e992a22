#!/usr/bin/env bash
# Installs labrun into a fresh prefix, builds examples/consumer against it with find_package(labrun)
# as another project would, runs it, and checks its seed-0 Iris loss against the exercise's figure
# (within the cross-kernel bound of docs/numerics.md, 2.2e-10 relative).
#   install_test.sh BUILD_DIR SOURCE_DIR WORK_DIR
set -euo pipefail
build=$1 source=$2 work=$3
rm -rf "$work"
mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" >"$work/install.log"
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$source/examples/consumer" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" >"$work/configure.log" 2>&1 ||
  { cat "$work/configure.log"; echo "install_test: the consumer did not configure" >&2; exit 1; }
cmake --build "$work/build" -j2 >"$work/build.log" 2>&1 ||
  { tail -30 "$work/build.log"; echo "install_test: the consumer did not build" >&2; exit 1; }
# The pictures and schemas come along: labrun-report draws an installed labrun's output, run from
# another folder through a link on a PATH, as a cluster user would.
mkdir -p "$work/elsewhere" "$work/path"
ln -s "$work/prefix/bin/labrun-report" "$work/path/labrun-report"
(cd "$work/elsewhere" && "$work/prefix/bin/labrun" all --seed 0 --repeats 5 -o all.json &&
  PATH="$work/path:$PATH" labrun-report all.json -o report.png) ||
  { echo "install_test: the installed labrun-report did not draw an installed labrun's output" >&2; exit 1; }
[[ -s "$work/elsewhere/report.png" ]] || { echo "install_test: labrun-report wrote no picture" >&2; exit 1; }
for file in bin/labrun-plot-pca bin/labrun-plot-study share/labrun/schema/labrun.schema.json \
            share/labrun/schema/labrun-study.schema.json; do
  [[ -e "$work/prefix/$file" ]] || { echo "install_test: $file is not installed" >&2; exit 1; }
done
"$work/prefix/bin/labrun-plot-study" --help >/dev/null || { echo "install_test: labrun-plot-study --help fails" >&2; exit 1; }
# labrun::io from the package: a study's summary table, as the installed labrun prints it.
(cd "$work/elsewhere" && "$work/prefix/bin/labrun" sweep mlp --lr 0.1,1 --epochs 5 --repeats 4 --seed 3 \
  -o study.jsonl 2>/dev/null && "$work/build/study_summary" study.jsonl >consumer.txt &&
  "$work/prefix/bin/labrun" summary study.jsonl >labrun.txt) ||
  { echo "install_test: the consumer's study_summary did not read an installed labrun's study" >&2; exit 1; }
grep -q "^lr=1 " "$work/elsewhere/consumer.txt" && tail -n +2 "$work/elsewhere/labrun.txt" | diff -q - "$work/elsewhere/consumer.txt" >/dev/null ||
  { echo "install_test: study_summary's table is not labrun summary's" >&2; exit 1; }
output=$("$work/build/iris_factorise")
echo "$output"
# The library really came from the prefix, not the build tree.
grep -q "$work/prefix" "$work/build/CMakeCache.txt" || { echo "install_test: labrun not found in the prefix" >&2; exit 1; }
awk '/^gd_loss/ { want = 15.232185510227303; d = $2 - want; if (d < 0) d = -d;
                  if (d > 2.2e-10 * want) { print "install_test: gd_loss " $2 " is not " want > "/dev/stderr"; exit 1 }
                  found = 1 }
     END { if (!found) { print "install_test: no gd_loss line" > "/dev/stderr"; exit 1 } }' <<<"$output"
