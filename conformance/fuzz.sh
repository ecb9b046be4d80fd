#!/usr/bin/env bash
# Run each cargo-fuzz target of fuzz/ for a fixed time and report crashes.
#
#   conformance/fuzz.sh [SECONDS_PER_TARGET]      (default 60)
#
# Each target starts from a temporary copy of its committed seeds in
# fuzz/corpus/<target>/ plus any saved crash inputs in fuzz/regressions/<target>/,
# so the committed corpus does not grow. A failing input is written under
# fuzz/artifacts/<target>/ and its path is printed.
#
# cargo-fuzz needs nightly compiler flags. On a stable toolchain the script sets
# RUSTC_BOOTSTRAP=1, which lets stable rustc accept them.
#
# Environment:
#   FUZZ_TARGETS       space-separated targets to run (default: every target in fuzz/)
#   FUZZ_SANITIZER     cargo-fuzz sanitizer: none (default), address, leak, ...
#   FUZZ_TARGET_DIR    cargo target directory (default: fuzz/target)
#   CARGO_FUZZ_VERSION cargo-fuzz version installed when missing (default 0.13.2)
#
# Exit status: 0 when no target crashed, 1 when a target crashed, hung or ran out
# of memory, 2 on a usage, install or build error.
set -euo pipefail

seconds="${1:-60}"
# Extra wall-clock seconds that each run gets beyond SECONDS_PER_TARGET, for
# start-up and the seed run, before `timeout` stops it.
GRACE_SECONDS=120
# Seconds that one input may run before libFuzzer reports it as a hang.
INPUT_TIMEOUT_SECONDS=10

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fuzz_dir="$repo/fuzz"
sanitizer="${FUZZ_SANITIZER:-none}"
target_dir="${FUZZ_TARGET_DIR:-$fuzz_dir/target}"
cargo_fuzz_version="${CARGO_FUZZ_VERSION:-0.13.2}"
dictionary="$fuzz_dir/dictionaries/scim.dict"

fail() {
  echo "fuzz.sh: error: $*" >&2
  exit 2
}

if [[ $# -gt 1 || ! "$seconds" =~ ^[1-9][0-9]*$ ]]; then
  fail "invalid arguments '$*': SECONDS_PER_TARGET must be one positive integer. Usage: conformance/fuzz.sh [SECONDS_PER_TARGET]"
fi
command -v cargo >/dev/null || fail "cargo not found. Install Rust with rustup."
command -v timeout >/dev/null || fail "timeout not found. Install GNU coreutils."
[[ -f "$fuzz_dir/Cargo.toml" ]] || fail "$fuzz_dir/Cargo.toml not found"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz $cargo_fuzz_version from crates.io"
  cargo install cargo-fuzz --locked --version "$cargo_fuzz_version" \
    || fail "cargo install cargo-fuzz --version $cargo_fuzz_version failed (see the output above)"
fi

if ! rustc --version | grep -q nightly; then
  export RUSTC_BOOTSTRAP=1
fi

work_dir="$(mktemp -d "${TMPDIR:-/tmp}/hub-fuzz.XXXXXX")"
trap 'rm -rf "$work_dir"' EXIT

cd "$fuzz_dir"
echo "fuzz.sh: building the fuzz targets (sanitizer: $sanitizer, target dir: $target_dir)"
cargo fuzz build --sanitizer "$sanitizer" --target-dir "$target_dir" \
  || fail "cargo fuzz build failed (see the compiler output above)"

# cargo-fuzz builds for the host triple in release mode, with debug assertions on.
host="$(rustc -vV | sed -n 's/^host: //p')"
binary_dir="$target_dir/$host/release"

if [[ -n "${FUZZ_TARGETS:-}" ]]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  mapfile -t targets < <(cargo fuzz list)
fi
[[ ${#targets[@]} -gt 0 ]] || fail "no fuzz targets found in $fuzz_dir"

failed=()
summary=()
for target in "${targets[@]}"; do
  [[ -d "corpus/$target" ]] || fail "no seed corpus for target '$target': create $fuzz_dir/corpus/$target/"
  [[ -x "$binary_dir/$target" ]] || fail "fuzz target '$target' was not built: $binary_dir/$target not found"
  corpus="$work_dir/corpus/$target"
  mkdir -p "$corpus" "artifacts/$target"
  cp -- corpus/"$target"/* "$corpus"/
  if [[ -d "regressions/$target" ]] && compgen -G "regressions/$target/*" >/dev/null; then
    cp -- regressions/"$target"/* "$corpus"/
  fi
  log="$work_dir/$target.log"

  echo "fuzz.sh: running $target for $seconds s"
  status=0
  # The binary runs directly, because `cargo fuzz run` rebuilds first whenever a source
  # file changed, and that build time would count against the limit.
  timeout --kill-after=30 "$((seconds + GRACE_SECONDS))" \
    "$binary_dir/$target" "$corpus" \
      -max_total_time="$seconds" -timeout="$INPUT_TIMEOUT_SECONDS" -dict="$dictionary" \
      -artifact_prefix="$fuzz_dir/artifacts/$target/" -print_final_stats=1 >"$log" 2>&1 || status=$?

  executions="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1 || true)"
  executions="${executions:-unknown}"
  if [[ $status -eq 0 ]]; then
    summary+=("$target: $executions executions in $seconds s, no crash")
    continue
  fi

  failed+=("$target")
  failing_input="$(grep -o 'Test unit written to .*' "$log" | sed 's/^Test unit written to //' | tail -n 1 || true)"
  echo "fuzz.sh: $target failed with exit status $status. Its panic message and the end of its output:" >&2
  grep -m 1 -A 4 'panicked at' "$log" >&2 || true
  tail -n 12 "$log" >&2
  if [[ -n "$failing_input" ]]; then
    [[ "$failing_input" == /* ]] || failing_input="$fuzz_dir/${failing_input#./}"
    # libFuzzer names the file by the kind of failure: crash-, timeout- or oom-.
    summary+=("$target: FAILED after $executions executions; failing input: $failing_input")
  elif [[ $status -eq 124 ]]; then
    summary+=("$target: FAILED, still running $GRACE_SECONDS s after the time limit; stopped")
  else
    summary+=("$target: FAILED with exit status $status and no failing input (see the output above)")
  fi
done

echo
echo "fuzz.sh: results"
printf '  %s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz.sh: ${#failed[@]} target(s) failed: ${failed[*]}. Copy each failing input to fuzz/regressions/<target>/ and fix the bug in Hub." >&2
  exit 1
fi
