#!/usr/bin/env bash
# docs/studies.md's cluster recipes, run as written on this machine, their sizes scaled down:
#
#   cluster_test.sh slurm    LABRUN SOURCE_DIR WORKDIR   the Slurm job array and its dependent merge,
#                                                       on a real single-node Slurm started here
#                                                       (scripts/slurm_local.sh)
#   cluster_test.sh parallel LABRUN SOURCE_DIR WORKDIR   the GNU parallel line, with local jobs for
#                                                       the ssh hosts
#
# Each merges the shards and checks that the study's records (every line after the header) are
# byte for byte those of one process running the same sweep. Exits 77 (skipped, said why) where
# Slurm or GNU parallel is not installed or cannot be started (scripts/setup.sh --test installs
# them; the Slurm daemons need root).
set -euo pipefail
mode=$1
labrun=$(realpath "$2")
source_dir=$(realpath "$3")
work=$4
doc="$source_dir/docs/studies.md"

skip() { echo "cluster_test.sh: skipped: $*" >&2; exit 77; }
fail() { echo "cluster_test.sh: FAIL: $*" >&2; exit 1; }

# The n-th ```sh block of docs/studies.md that contains `pattern`, continuation lines joined.
doc_block() {
  awk -v pattern="$1" '
    /^```sh$/ { inside = 1; block = ""; next }
    /^```$/ && inside { inside = 0; if (index(block, pattern) && !done) { printf "%s", block; done = 1 } next }
    inside { block = block $0 "\n" }' "$doc" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta'
}

# A study's sizes scaled down so that the test takes seconds: 6 repeats, epochs 5 and 10.
scale() { sed -E -e 's/--repeats [0-9]+/--repeats 6/g' -e 's/--epochs [0-9,]+/--epochs 5,10/g'; }

# The same sweep in one process: the labrun line without its shard, output and --resume.
one_process() {
  grep -o 'labrun sweep .*' | head -n 1 |
    sed -E -e 's/--shard [^ ]+//' -e 's/-o [^ ]+//' -e 's/--resume//' -e 's/:::.*//'
}

# Every line after the header, the same in both files, but the process lines (which say which
# process, host and kernel computed the runs after them: one per shard, and one for one process).
records() { tail -n +2 "$1" | grep -v '^{"type":"process"'; }
same_records() {
  cmp <(records "$1") <(records "$2") || fail "$1 and $2 differ after their headers"
  local shards
  shards=$(grep -c '^{"type":"process"' "$1")
  [[ $shards -ge 2 ]] || fail "$1 holds $shards process lines: one per shard was expected"
  local runs
  runs=$(grep -c '"type":"run"' "$1")
  [[ $runs -gt 0 ]] || fail "$1 holds no run"
  echo "cluster_test.sh: $mode: $(wc -l < "$1") lines, $runs runs, the same as one process" >&2
}

rm -rf "$work"
mkdir -p "$work/bin"
ln -s "$labrun" "$work/bin/labrun"  # the recipes call `labrun` from PATH
export PATH="$work/bin:$PATH"
cd "$work"

case "$mode" in
  slurm)
    command -v sbatch >/dev/null && command -v slurmctld >/dev/null && command -v munged >/dev/null ||
      skip "Slurm is not installed (Debian's slurm-wlm and munge; scripts/setup.sh --test installs them)"
    [[ $(id -u) -eq 0 ]] || skip "the single-node Slurm of scripts/slurm_local.sh runs its daemons as root"
    export SLURM_LOCAL_DIR="$work/slurm"
    export SLURM_LOCAL_CTLD_PORT=${SLURM_LOCAL_CTLD_PORT:-16817}
    export SLURM_LOCAL_SLURMD_PORT=${SLURM_LOCAL_SLURMD_PORT:-16818}
    trap '"$source_dir/scripts/slurm_local.sh" stop >/dev/null 2>&1 || true' EXIT
    "$source_dir/scripts/slurm_local.sh" start || skip "Slurm could not be started here (its logs are above)"
    eval "$("$source_dir/scripts/slurm_local.sh" env)"

    job=$(doc_block '#SBATCH --array' | scale)
    merge=$(doc_block 'sbatch --dependency' | scale)
    [[ -n $job && -n $merge ]] || fail "docs/studies.md holds no Slurm job array and merge block"
    printf '%s' "$job" > job.sh
    ARRAY_JOB_ID=$(sbatch --parsable job.sh)
    ARRAY_JOB_ID=${ARRAY_JOB_ID%%;*}
    export ARRAY_JOB_ID
    merge_id=$(eval "${merge/sbatch /sbatch --parsable }")
    merge_id=${merge_id%%;*}
    waited=0
    while [[ -n $(squeue -h -j "$ARRAY_JOB_ID,$merge_id" 2>/dev/null) ]]; do
      ((waited++ < 600)) || fail "the jobs did not finish in 300 s: $(squeue -j "$ARRAY_JOB_ID,$merge_id")"
      sleep 0.5
    done
    state=$(scontrol show job "$merge_id" | grep -o 'JobState=[A-Z]*')
    [[ $state == JobState=COMPLETED ]] || { cat slurm-*.out >&2 || true; fail "the merge job ended $state"; }
    shards=$(ls study.[0-9]*.jsonl | wc -l)
    [[ $shards -eq 8 ]] || fail "$shards shard files, not the array's 8"
    eval "$(printf '%s' "$job" | one_process) -o single.jsonl" 2>/dev/null
    same_records study.jsonl single.jsonl
    ;;
  parallel)
    command -v parallel >/dev/null || skip "GNU parallel is not installed (Debian's parallel)"
    block=$(doc_block 'parallel -S' | scale)
    [[ -n $block ]] || fail "docs/studies.md holds no GNU parallel block"
    # No ssh hosts here: two local job slots instead of -S, and nothing to return or clean up.
    block=$(printf '%s' "$block" | sed -E -e "s/-S [^ ]+/-j2/" -e 's/--sshdelay [^ ]+//' \
      -e "s/--return '[^']*'//" -e 's/--cleanup//')
    bash -euo pipefail -c "$block" 2>/dev/null
    [[ $(ls study.[0-9]*.jsonl | wc -l) -eq 6 ]] || fail "not the 6 shard files the block names"
    eval "$(printf '%s' "$block" | one_process) -o single.jsonl" 2>/dev/null
    same_records study.jsonl single.jsonl
    ;;
  *)
    echo "cluster_test.sh: unknown mode '$mode' (slurm or parallel)" >&2
    exit 2
    ;;
esac
