#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what is missing, builds wolfSSL
# if no verified build exists, then builds mpsd twice and runs every suite in both:
#   build-release  gcc, -O2, -Werror          unit + integration suites
#   build-asan     clang-14, ASan + UBSan     unit + integration suites + libFuzzer smoke runs
# Exit status is non-zero on any failure. FUZZ_SECONDS (default 60) bounds each fuzz run.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash tools/setup.sh

jobs=$(nproc)
. tools/build-dir.sh

fuzz_seconds=${FUZZ_SECONDS:-60}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

status=0
echo "== release build (gcc, -Wall -Wextra -Werror)"
build_dir build-release --buildtype=release -Dwerror=true -Dfuzz=false
ninja -C build-release -j"$jobs"
meson test -C build-release --print-errorlogs --no-suite fuzz --num-processes "$jobs" || status=1

echo "== sanitizer build (clang-14, ASan + UBSan, libFuzzer targets)"
CC=clang-14 build_dir build-asan --buildtype=debug -Dwerror=true -Db_sanitize=address,undefined \
  -Db_lundef=false -Dfuzz=true -Dfuzz_seconds="$fuzz_seconds"
ninja -C build-asan -j"$jobs"
meson test -C build-asan --print-errorlogs --num-processes "$jobs" || status=1

# One closing line over both builds, counted from criterion's own synthesis lines (and meson's
# results for tests that are not criterion executables, e.g. fuzz runs).
python3 - build-release build-asan <<'PY'
import json, re, sys
passed = failed = 0
failures = []  # printed after the count, where a CI log's tail shows them
for d in sys.argv[1:]:
    try:
        lines = open(f"{d}/meson-logs/testlog.json").read().splitlines()
    except OSError:
        continue
    for line in lines:
        t = json.loads(line)
        out = (t.get("stdout") or "") + (t.get("stderr") or "")
        m = re.search(r"Synthesis: Tested: (\d+) \| Passing: (\d+) \| Failing: (\d+) \| Crashing: (\d+)", out)
        if m:
            passed += int(m.group(2)); failed += int(m.group(3)) + int(m.group(4))
            if t["result"] != "OK" and int(m.group(3)) + int(m.group(4)) == 0:
                failed += 1
        else:
            if t["result"] in ("OK", "EXPECTEDFAIL"): passed += 1
            elif t["result"] != "SKIP": failed += 1
        if t["result"] not in ("OK", "EXPECTEDFAIL", "SKIP"):
            # criterion's assertion blocks and [FAIL] lines: a few KiB, not the servers' output
            keep = [l for l in out.splitlines() if l.startswith("[----]") or l.startswith("[FAIL]")]
            text = "\n".join(keep) if keep else out[-3000:]
            if len(text) > 6000:
                text = text[:4000] + "\n[... cut ...]\n" + text[-2000:]
            failures.append(f"== failed: {d} {t['name']} ({t['result']})\n{text}")
for f in failures:
    print(f)
print(f"mpsd: {passed} passed, {failed} failed")
PY
exit $status
