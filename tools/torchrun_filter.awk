# Filter of torchrun's stderr, used by run_torchrun in launch_checks.sh.
# Passes everything through, except that the launcher's own traceback
# (it starts in <frozen runpy> and ends in ChildFailedError) is held until
# the end and left out when the first failed rank ("Root Cause") exited with
# code 2, a user error the rank has already reported; then the exit status
# is 2. The summary of the failed ranks is always kept.
# mode 0: pass through; 1: a traceback started; 2: the launcher
# traceback and what follows it, held until the end
mode == 1 {
    if ($0 ~ /^  File "<frozen runpy>"/) { mode = 2; lines[++n] = held }
    else { print held; fflush(); mode = 0 }
}
mode == 2 {
    lines[++n] = $0
    if ($0 ~ /ChildFailedError:/) { tb_end = n }
    if ($0 ~ /^Root Cause/) { root = 1 }
    if (root && code == "" && match($0, /exitcode *: *-?[0-9]+/)) {
        code = substr($0, RSTART, RLENGTH); sub(/.*: */, "", code)
    }
    next
}
mode == 0 && $0 == "Traceback (most recent call last):" {
    held = $0; mode = 1; next
}
{ print; fflush() }
END {
    if (mode == 1) { print held }
    user = (mode == 2 && code == "2" && tb_end > 0)
    for (i = 1; i <= n; i++) {
        if (!user || i > tb_end) { print lines[i] }
    }
    exit user ? 2 : 0
}
