#!/bin/sh
# Run fuzz targets one after another, each for $SECONDS_PER_TARGET (600 by
# default) under nice 19, then minimise its corpus into corpus/<target>:
# `cargo fuzz cmin` (libFuzzer -merge=1), then a set-cover merge, which keeps
# every coverage feature with far fewer files (params: 732 files after cmin,
# 158 after set cover); over 500 files, a set cover of the edges alone
# (-use_counters=0: id_token_hint 875 -> 333 files).
# Usage: fuzz/fuzz.sh [target...]   (default: every target)
# Logs and the working corpus go to corpus-work/ (not committed).
set -eu
cd "$(dirname "$0")"
secs=${SECONDS_PER_TARGET:-600}
targets=${*:-$(cargo +nightly fuzz list)}
bin=target/x86_64-unknown-linux-gnu/release
for t in $targets; do
    mkdir -p "corpus-work/$t" "corpus/$t"
    cp -n "corpus/$t"/* "corpus-work/$t"/ 2>/dev/null || true
    echo "== $t: $secs s" >&2
    nice -n 19 cargo +nightly fuzz run -a -s none "$t" "corpus-work/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 \
        >"corpus-work/$t.log" 2>&1 || { echo "$t FAILED, see fuzz/corpus-work/$t.log" >&2; exit 1; }
    grep -E "stat::number_of_executed_units|stat::average_exec_per_sec|DONE" "corpus-work/$t.log" >&2
    nice -n 19 cargo +nightly fuzz cmin -a -s none "$t" "corpus-work/$t" >"corpus-work/$t.cmin.log" 2>&1
    rm -rf "corpus/$t" && mkdir "corpus/$t"
    nice -n 19 "$bin/$t" -set_cover_merge=1 "corpus/$t" "corpus-work/$t" >"corpus-work/$t.merge.log" 2>&1
    if [ "$(ls "corpus/$t" | wc -l)" -gt 500 ]; then
        rm -rf "corpus/$t" && mkdir "corpus/$t"
        nice -n 19 "$bin/$t" -set_cover_merge=1 -use_counters=0 "corpus/$t" "corpus-work/$t" \
            >"corpus-work/$t.merge.log" 2>&1
    fi
    echo "$t: $(ls "corpus-work/$t" | wc -l) files after cmin, $(ls "corpus/$t" | wc -l) kept ($(du -sb "corpus/$t" | cut -f1) bytes)" >&2
done
