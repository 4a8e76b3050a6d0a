#!/usr/bin/env bash
# The fuzzing campaign (issue 10; not run in CI): every libFuzzer target (10) for N minutes on a copy of
# its committed seed corpus, the grown corpus minimised (libFuzzer -merge=1 into a fresh directory)
# and written back as the committed seeds, and line coverage of each target over src/ before and
# after (clang-14 source-based coverage: llvm-profdata-14 merge, llvm-cov-14 export), plus the
# coverage of fuzz_apf_struct vs fuzz_apf_session over src/apf.
#
# usage: tools/fuzz-campaign.sh [-m MINUTES] [-P PARALLEL] [-t "target ..."] [-o OUTDIR]
#                               [-f FUZZ_BUILD] [-c COV_BUILD] [-n] [-B]
#   -m  minutes per target (default 10)              -P  targets fuzzed at once (default 1)
#   -t  subset of targets (default: all)             -o  work/output dir (default FUZZ_BUILD/campaign)
#   -f  ASan+UBSan -Dfuzz=true build (build-fuzz)    -c  coverage build (build-cov)
#   -n  do not write the corpora back                -B  do not (re)build the targets
#   -C  coverage only: measure the committed corpora, no fuzzing (implies -n)
#   -S  only print the summary of the results already in OUTDIR
# Markdown summary on stdout, JSON in OUTDIR/summary.json. Each fuzzer runs with -jobs/-workers 1
# (one process) under nice; the build directories are created if missing:
#   build-fuzz  CC=clang-14 -Db_sanitize=address,undefined -Db_lundef=false -Dfuzz=true
#   build-cov   CC=clang-14 -Dfuzz=true -Dc_args='-fprofile-instr-generate -fcoverage-mapping'
# Committed seeds: files with a hand-given name are kept; files named by a 40-hex SHA-1 are the
# campaign's own and are replaced by the new minimised set.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

minutes=10 parallel=1 only="" out="" fbuild=build-fuzz cbuild=build-cov writeback=1 build=1 covonly=0
summary=0
while getopts "m:P:t:o:f:c:nBCS" o; do
  case $o in
    m) minutes=$OPTARG ;; P) parallel=$OPTARG ;; t) only=$OPTARG ;; o) out=$OPTARG ;;
    f) fbuild=$OPTARG ;; c) cbuild=$OPTARG ;; n) writeback=0 ;; B) build=0 ;;
    C) covonly=1 writeback=0 ;;
    S) summary=1 build=0 ;;
    *) sed -n '2,20p' "$0" >&2; exit 2 ;;
  esac
done
out=${out:-$fbuild/campaign}

# name  binary (in the build dirs)  committed seeds  max_len  generated seeds (build dir, or -)
targets="
apf_session     tests/apf/fuzz_apf_session        tests/apf/corpus-session      65536 tests/apf/apf-corpus
client_hello    tests/tls/fuzz_client_hello       tests/tls/corpus              4096  -
config          tests/core/fuzz_config            tests/core/corpus-config      8192  -
creds           tests/core/fuzz_creds             tests/core/corpus-creds       8192  -
users           tests/core/fuzz_users             tests/core/corpus-users       8192  -
socks           tests/proxy/fuzz_socks            tests/proxy/corpus-socks      16384 -
http_request    tests/proxy/fuzz_http_request     tests/proxy/corpus-http_request  16384 -
http_response   tests/proxy/fuzz_http_response    tests/proxy/corpus-http_response 16384 -
apf_struct      tests/apf/fuzz_apf_struct         tests/apf/corpus-struct       4096  -
admin_request   tests/admin/fuzz_admin_request    tests/admin/corpus-admin_request 16384 -
"
sel() { echo "$targets" | awk -v only=" $only " 'NF && (only == "  " || index(only, " " $1 " "))'; }
[ -n "$(sel)" ] || { echo "no such target: $only" >&2; exit 2; }

pc="--pkg-config-path=$top/.deps/wolfssl/lib/pkgconfig"
if [ "$build" = 1 ]; then
  [ -f "$fbuild/build.ninja" ] || CC=clang-14 meson setup "$fbuild" "$pc" --buildtype=debug \
    -Db_sanitize=address,undefined -Db_lundef=false -Dfuzz=true >/dev/null
  [ -f "$cbuild/build.ninja" ] || CC=clang-14 meson setup "$cbuild" "$pc" --buildtype=debug \
    -Db_lundef=false -Dfuzz=true -Dc_args='-fprofile-instr-generate -fcoverage-mapping' \
    -Dc_link_args=-fprofile-instr-generate >/dev/null
  bins=$(sel | awk '{print $2}')
  gens=$(sel | awk '$5 != "-" {print "tests/apf/apf-corpus.stamp"}' | sort -u) # mkcorpus.py seeds
  nice ninja -C "$fbuild" -j2 $bins $gens >&2
  nice ninja -C "$cbuild" -j2 $bins >&2
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
mkdir -p "$out"

# Line coverage of BIN run over the corpus dirs, restricted to FILTER (a source dir): JSON totals.
cov() { # NAME TAG FILTER DIR...
  local name=$1 tag=$2 filter=$3 bin
  shift 3
  bin=$cbuild/$(sel | awk -v n="$name" '$1 == n {print $2}')
  local w=$out/$name/cov-$tag
  rm -rf "$w" && mkdir -p "$w"
  # -runs=0: execute every input once and exit; a crashing input still leaves its profile
  LLVM_PROFILE_FILE="$w/%p.profraw" "$bin" -runs=0 -rss_limit_mb=4096 "$@" >"$w/run.log" 2>&1 || true
  llvm-profdata-14 merge -sparse -o "$w/all.profdata" "$w"/*.profraw
  # only src/ (or src/apf): a path filter does not match the build's ../src paths, a regex does
  local ign='(/tests/|^/usr/|/\.deps/)'
  if [ "$filter" != src ]; then
    ign="(/tests/|^/usr/|/\.deps/|/src/($(ls src | grep -vx "${filter#src/}" | paste -sd '|'))/)"
  fi
  llvm-cov-14 export -summary-only -instr-profile="$w/all.profdata" -ignore-filename-regex="$ign" \
    "$bin" >"$w/export.json"
  llvm-cov-14 report -instr-profile="$w/all.profdata" -ignore-filename-regex="$ign" "$bin" >"$w/report.txt"
  python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["data"][0]["totals"]["lines"]
print(json.dumps({"covered": t["covered"], "count": t["count"], "percent": round(t["percent"], 2)}))' \
    "$w/export.json"
}

execs_of() { awk '/^stat::number_of_executed_units:/ {n = $NF} END {print n + 0}' "$1"; }

nfiles() { find "$@" -maxdepth 1 -type f 2>/dev/null | wc -l; }

run_target() { # NAME BIN SEEDS MAXLEN GEN
  local name=$1 bin=$2 seeds=$3 maxlen=$4 gen=$5
  local d=$out/$name
  rm -rf "$d" && mkdir -p "$d/corpus" "$d/min" "$d/artifacts"
  mkdir -p "$seeds"
  local inputs=("$seeds")
  [ "$gen" = - ] || inputs+=("$fbuild/$gen")
  local before_files
  for i in "${inputs[@]}"; do find "$i" -maxdepth 1 -type f -exec cp -t "$d/corpus" {} +; done
  before_files=$(nfiles "$d/corpus")
  local cov_before cov_after status=ok execs=0 secs=$((minutes * 60))
  cov_before=$(cov "$name" before src "$d/corpus")
  if [ "$covonly" = 0 ]; then
    # one process (-jobs/-workers 1 are the default in-process mode); hangs > 10 s are findings
    nice -n 19 "$fbuild/$bin" -max_total_time="$secs" -max_len="$maxlen" -rss_limit_mb=2048 \
      -timeout=10 -error_exitcode=1 -print_final_stats=1 -artifact_prefix="$d/artifacts/" \
      "$d/corpus" >"$d/fuzz.log" 2>&1 || status=finding
    execs=$(execs_of "$d/fuzz.log")
    # edge coverage only (-use_counters=0) keeps the committed corpus small; MERGE_FLAGS overrides
    nice -n 19 "$fbuild/$bin" ${MERGE_FLAGS:--merge=1 -use_counters=0} -max_len="$maxlen" \
      -rss_limit_mb=2048 -timeout=10 \
      "$d/min" "$d/corpus" >"$d/merge.log" 2>&1 || status=merge-failed
  else
    find "$d/corpus" -maxdepth 1 -type f -exec cp -t "$d/min" {} +
  fi
  cov_after=$(cov "$name" after src "$d/min")
  local after_files bytes
  after_files=$(nfiles "$d/min")
  bytes=$(du -sb "$d/min" | cut -f1)
  if [ "$writeback" = 1 ] && [ "$status" = ok ]; then
    find "$seeds" -maxdepth 1 -type f -regextype posix-extended -regex '.*/[0-9a-f]{40}' -delete
    local keep
    keep=$(find "$seeds" -maxdepth 1 -type f -exec sha1sum {} + | awk '{print $1}')
    for f in "$d/min"/*; do
      echo "$keep" | grep -qx "$(basename "$f")" || cp "$f" "$seeds/"
    done
  fi
  python3 - "$d/result.json" <<PY
import json, sys
json.dump({"target": "$name", "minutes": $([ "$covonly" = 1 ] && echo 0 || echo "$minutes"),
           "execs": int("${execs:-0}" or 0), "status": "$status",
           "artifacts": sorted(__import__("os").listdir("$d/artifacts")),
           "corpus_before": $before_files, "corpus_after": $after_files, "corpus_after_bytes": $bytes,
           "lines_before": $cov_before, "lines_after": $cov_after}, open(sys.argv[1], "w"), indent=1)
PY
  echo "== $name: $status, ${execs:-0} execs, corpus $before_files -> $after_files" >&2
}

running=0
[ "$summary" = 0 ] && while read -r name bin seeds maxlen gen; do
  [ -n "$name" ] || continue
  run_target "$name" "$bin" "$seeds" "$maxlen" "$gen" &
  running=$((running + 1))
  if [ "$running" -ge "$parallel" ]; then wait -n || true; running=$((running - 1)); fi
done <<<"$(sel)"
wait

# APF: the structure-aware target against the byte-level one, over src/apf only, on the corpora
# as they stand after the campaign.
apf=null
if [ "$summary" = 0 ] && [ -f "$out/apf_session/result.json" ] && [ -f "$out/apf_struct/result.json" ]; then
  s=$(cov apf_session apf src/apf "$out/apf_session/min")
  t=$(cov apf_struct apf src/apf "$out/apf_struct/min")
  files() { sed -n '/^apf_/p' "$out/$1/cov-apf/report.txt" | awk '{print $1, $(NF-3)}' | tr '\n' ';'; }
  apf="{\"session\": $s, \"struct\": $t, \"session_files\": \"$(files apf_session)\", \"struct_files\": \"$(files apf_struct)\"}"
  echo "$apf" >"$out/apf.json"
elif [ -f "$out/apf.json" ]; then
  apf=$(cat "$out/apf.json")
fi

python3 - "$out" "$apf" <<'PY'
import glob, json, sys
out, apf = sys.argv[1], json.loads(sys.argv[2])
rows = [json.load(open(f)) for f in sorted(glob.glob(out + "/*/result.json"))]
for r in rows:  # execs from the fuzz log (a result.json written before the log was parsed right)
    if not r["execs"]:
        try:
            for line in open(out + "/" + r["target"] + "/fuzz.log", errors="replace"):
                if line.startswith("stat::number_of_executed_units:"):
                    r["execs"] = int(line.split()[-1])
        except OSError:
            pass
json.dump({"targets": rows, "apf_src_apf": apf}, open(out + "/summary.json", "w"), indent=1)
pct = lambda c: "%.1f%% (%d/%d)" % (c["percent"], c["covered"], c["count"])
print("| target | minutes | execs | status | corpus files before | after | line coverage of src/ before | after |")
print("|---|---:|---:|---|---:|---:|---:|---:|")
for r in rows:
    print("| %s | %d | %d | %s | %d | %d | %s | %s |" % (r["target"], r["minutes"], r["execs"], r["status"],
          r["corpus_before"], r["corpus_after"], pct(r["lines_before"]), pct(r["lines_after"])))
def files(target, tag):
    try:
        d = json.load(open("%s/%s/cov-%s/export.json" % (out, target, tag)))["data"][0]["files"]
    except (OSError, KeyError, IndexError, ValueError):
        return {}
    return {f["filename"].split("/src/", 1)[-1]: f["summary"]["lines"] for f in d}
print()
print("| target | file (src/) | lines | before | after |")
print("|---|---|---:|---:|---:|")
for r in rows:
    b, a = files(r["target"], "before"), files(r["target"], "after")
    r["files"] = {k: {"count": v["count"], "before": b.get(k, {}).get("covered", 0),
                      "after": v["covered"]} for k, v in a.items()}
    for k, v in sorted(r["files"].items()):
        if v["count"] and (v["after"] or v["before"]):
            print("| %s | %s | %d | %.1f%% | %.1f%% |" % (r["target"], k, v["count"],
                  100.0 * v["before"] / v["count"], 100.0 * v["after"] / v["count"]))
json.dump({"targets": rows, "apf_src_apf": apf}, open(out + "/summary.json", "w"), indent=1)
if apf:
    print()
    print("| src/apf line coverage | total | per file |")
    print("|---|---:|---|")
    print("| fuzz_apf_session (bytes) | %s | %s |" % (pct(apf["session"]), apf["session_files"].replace(";", " ")))
    print("| fuzz_apf_struct (structure-aware) | %s | %s |" % (pct(apf["struct"]), apf["struct_files"].replace(";", " ")))
print()
print("JSON: " + out + "/summary.json")
PY
