# Sourced by bench/run: the real-program rows. Each program runs plain, then under leakwatch's default mode,
# sampling, frame-pointer mode and heaptrack, every tool's runs alternating with plain runs of its own; the row
# shows the plain median and each tool's median as a multiple of it, and the peak memory leakwatch adds per heap
# block live at exit. The inputs are written here, so nothing is downloaded.
#   BENCH_REAL_REPS (3), BENCH_REAL_BUDGET (30): repetitions and seconds of runs per cell
#   BENCH_MAKE_REPS (2): repetitions of the make -j2 row (a build of this project, about 30 s plain)
#   BENCH_REAL (all): a space-separated subset of: perl cc1 cc1-small cc1-hand python sqlite make

if [ "${BENCH_QUICK:-0}" = 1 ]; then
    d_real_reps=1; d_real_budget=8; d_make_reps=1; perl_n=50000; py_n=30000; sql_n=30000
else
    d_real_reps=3; d_real_budget=30; d_make_reps=2; perl_n=400000; py_n=200000; sql_n=200000
fi
REAL_REPS=${BENCH_REAL_REPS:-$d_real_reps}
REAL_BUDGET=${BENCH_REAL_BUDGET:-$d_real_budget}
MAKE_REPS=${BENCH_MAKE_REPS:-$d_make_reps}
REAL=${BENCH_REAL:-perl cc1 cc1-small cc1-hand python sqlite make}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

RI=$TMP/inputs
mkdir -p "$RI"
python3 bench/inputs.py varied 700 > "$RI/varied.c"
python3 bench/inputs.py small 2300 > "$RI/small.c"
cat > "$RI/hash.pl" <<PERL
our %h; # a global: perl leaves it to the exit, so its blocks are live in the exit dump
\$h{"key\$_"} = [\$_, "v\$_"] for 1..$perl_n;
print scalar(keys %h), "\n";
PERL
cat > "$RI/roundtrip.py" <<PYTHON
import json
rows = [{"id": i, "name": "n%d" % i, "tags": [i, i + 1], "ok": i % 3 == 0} for i in range($py_n)]
back = json.loads(json.dumps(rows))
print(len(back))
PYTHON
cat > "$RI/rows.sql" <<SQL
CREATE TABLE t(a INTEGER, b TEXT, c INTEGER);
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < $sql_n)
INSERT INTO t SELECT x, hex(randomblob(12)), x * 7 FROM n;
CREATE INDEX tb ON t(b);
CREATE INDEX tc ON t(c);
SELECT count(*) FROM t;
SQL
SRC=$TMP/src
MK=$TMP/make-build
if git archive HEAD 2>/dev/null | (mkdir -p "$SRC" && tar -x -C "$SRC"); then :; else rm -rf "$SRC"; fi

# real_cmd NAME: sets CMD (a command line for sh -c, which execs the program, so that the shell is no process of
# its own under a tool), HT_CMD (the same under heaptrack) and DESC for one program; returns 1 when it cannot run.
# heaptrack takes itself out of the environment of the process it starts, so it must start the program itself:
# put in front of `sh -c`, it would trace the shell alone and nothing of the program. gcc's driver does its work
# in cc1 and as, which heaptrack reaches through the driver's -wrapper option (the driver itself is not traced;
# its few hundred allocations are not where the time goes).
real_cmd() {
    _gcc=
    case $1 in
    perl) command -v perl >/dev/null || return 1
        _run="perl '$RI/hash.pl'"; DESC="perl, $perl_n-entry hash of arrays" ;;
    cc1) command -v gcc >/dev/null || return 1
        _gcc="-O2 -c '$RI/varied.c' -o '$TMP/varied.o'"; DESC="gcc -O2 -c, 700 lines of varied C" ;;
    cc1-hand) command -v gcc >/dev/null || return 1
        _gcc="-O2 -c '$RI/varied.c' -o '$TMP/varied.o'"; DESC="the same by hand: 3 reports at exit" ;;
    cc1-small) command -v gcc >/dev/null || return 1
        _gcc="-O2 -c '$RI/small.c' -o '$TMP/small.o'"; DESC="gcc -O2 -c, 2300 lines of small functions" ;;
    python) [ -x "$PY" ] || return 1
        _run="$PY '$RI/roundtrip.py'"; DESC="python3, $py_n JSON objects round trip" ;;
    sqlite) command -v sqlite3 >/dev/null || return 1
        _run="sqlite3 :memory: < '$RI/rows.sql'"; DESC="sqlite3, $sql_n rows inserted and indexed" ;;
    make) [ -d "$SRC" ] || return 1
        CMD="rm -rf '$MK' && exec make -s -j2 -C '$SRC' all B='$MK'"; HT_CMD=
        DESC="make -j2 of leakwatch (lib and command)"; return 0 ;;
    *) return 1 ;;
    esac
    if [ -n "$_gcc" ]; then
        CMD="exec gcc $_gcc"; HT_CMD="exec gcc -wrapper heaptrack,-o,'$HT/x' $_gcc"
    else
        CMD="exec $_run"; HT_CMD="exec heaptrack -o '$HT/x' $_run"
    fi
    return 0
}

# heaptrack_traced FILE: whether heaptrack's last output (FILE.zst or FILE.gz) records any allocation.
heaptrack_traced() {
    _f=$(ls "$1".* 2>/dev/null | head -n 1)
    [ -n "$_f" ] || return 1
    _calls=$(heaptrack_print "$_f" 2>/dev/null | sed -n 's/^calls to allocation functions: \([0-9]*\).*/\1/p')
    [ "${_calls:-0}" -gt 0 ]
}

# cell REPS TOOL-ARGS...: one tool's median against alternating plain runs of CMD; sets CELL ("2.05x" or why not),
# PLAIN_M, PLAIN_RSS, TOOL_RSS and TOOL_LIVE.
cell() {
    _r=$1; shift
    if measure "$_r" --baseline "sh -c \"$CMD\"" "$@"; then
        PLAIN_M=$(field base_median "$R"); PLAIN_RSS=$(field base_rss_kb "$R"); TOOL_RSS=$(field rss_kb "$R")
        TOOL_LIVE=$(field live "$R")
        CELL="$(calc "%.2f" "$(field median "$R") / $PLAIN_M")x"
    else
        CELL="fail"; TOOL_LIVE="-"
        printf '%s\n' "  ($DESC: $FAIL)" >> "$TMP/real-notes"
        [ -n "$FAILTEXT" ] && printf '%s\n' "$FAILTEXT" >> "$TMP/real-notes"
    fi
}

echo
echo "== real programs: median wall time of plain runs, and each tool's median as a multiple of the plain runs"
echo "   alternated with its own ($REAL_REPS reps, make $MAKE_REPS; fewer once a cell took $REAL_BUDGET s)."
echo "   sample is LEAKWATCH_SAMPLE=524288 (one heap block recorded per 512 KiB allocated on average)."
echo "   peak B/block: leakwatch default's peak RSS over plain's, divided by the heap blocks live at exit (its"
echo "   exit dump included)."
printf '%-42s %8s %8s %8s %9s %5s %9s %10s\n' "program" "plain s" "default" "sample" "heaptrack" "fp" \
    "live" "peak B/blk"
: > "$TMP/real-notes"
SAVE_BUDGET=$BUDGET
BUDGET=$REAL_BUDGET
for prog in $REAL; do
    if ! real_cmd "$prog"; then
        printf '%-42s %s\n' "$prog" "skipped: not installed"
        continue
    fi
    reps=$REAL_REPS
    [ "$prog" = make ] && reps=$MAKE_REPS
    if [ ! -f "$LIB" ]; then
        printf '%-42s %s\n' "$DESC" "library not built"
        continue
    fi
    if [ "$prog" = cc1-hand ]; then
        # LD_PRELOAD alone, as a user runs it: the driver, cc1 and as each write a dump and print their report
        # (to the cell's log) through the leakwatch command; TMPDIR keeps the dumps out of /tmp
        cell "$reps" -e LD_PRELOAD=$LIB -e TMPDIR=$DUMPS --clean "$DUMPS" -- sh -c "$CMD"
        printf '%-42s %8.3f %8s %8s %9s %5s %9s %10s\n' "$DESC" "$PLAIN_M" "$CELL" "-" "-" "n/a" "-" "-"
        continue
    fi
    if [ "$prog" = make ]; then
        # the gate's whole path: a report per process at exit, then leakwatch run reads them all
        cell "$reps" --any-exit -- sh -c "rm -rf '$MK' && exec '$CLI' run -- make -s -j2 -C '$SRC' all B='$MK'"
        c_def=$CELL; live="-"; per="-"
        cell "$reps" --any-exit -e LEAKWATCH_SAMPLE=524288 -- \
            sh -c "rm -rf '$MK' && exec '$CLI' run -- make -s -j2 -C '$SRC' all B='$MK'"
        c_smp=$CELL; c_ht="-"
    else
        cell "$reps" $LW_ENV --clean "$DUMPS" --leaks dump -- sh -c "$CMD"
        c_def=$CELL; live=$TOOL_LIVE; per="-"
        # one process only: gcc's driver, cc1 and as each have a peak of their own
        if [ "${prog#cc1}" = "$prog" ] && [ "$c_def" != fail ] && [ "$live" -gt 1000 ] 2>/dev/null; then
            per=$(calc "%.0f" "($TOOL_RSS - $PLAIN_RSS) * 1024 / $live")
        fi
        cell "$reps" $LW_ENV -e LEAKWATCH_SAMPLE=524288 --clean "$DUMPS" --leaks dump -- sh -c "$CMD"
        c_smp=$CELL
        if command -v heaptrack >/dev/null 2>&1; then
            cell "$reps" --clean "$HT" -- sh -c "$HT_CMD"
            c_ht=$CELL
            # a cell of a heaptrack that traced nothing would compare leakwatch with a plain run
            if [ "$c_ht" != fail ] && ! heaptrack_traced "$HT/x"; then
                c_ht="none"
                printf '%s\n' "  ($DESC: heaptrack recorded no allocation; its cell is left out)" >> "$TMP/real-notes"
            fi
        else
            c_ht="-"
        fi
    fi
    # Debian builds these programs without frame pointers: frame-pointer mode would give them one-frame stacks
    printf '%-42s %8.3f %8s %8s %9s %5s %9s %10s\n' "$DESC" "$PLAIN_M" "$c_def" "$c_smp" "$c_ht" "n/a" "$live" "$per"
done
BUDGET=$SAVE_BUDGET
cat "$TMP/real-notes"
echo "note: fp is n/a: Debian builds perl, gcc, python3, sqlite3 and make without frame pointers, so frame-pointer"
echo "      mode would cut their stacks short; the frame-pointer build of the reference workload measures it above."
echo "note: live is the heap blocks live at exit, leaked or reachable, in leakwatch's dumps (gcc: driver, cc1 and"
echo "      as together); peak B/blk is shown for single-process rows only. make's row has no heaptrack cell"
echo "      (heaptrack writes one file per process of the build)."
