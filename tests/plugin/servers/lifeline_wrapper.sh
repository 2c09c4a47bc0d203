#!/bin/sh
# The shell example of docs/configuration.md ("When the launcher dies"), around a server that
# knows nothing of the lifeline.   sh lifeline_wrapper.sh READY_FILE STATE_DIR PYTHON
"$3" "$(dirname "$0")/lifeline_server.py" --ready-file "$1" --state-dir "$2" --ignore-lifeline &
server=$!
trap 'kill "$server"; wait "$server"; exit 0' TERM INT
cat "/dev/fd/$DEPLOYVERIFY_PARENT_FD" >/dev/null &    # ends at end-of-file
wait $!                                          # the launcher is gone (or stopped us)
echo "$$" > "$2/shell-eof"
kill "$server"; wait "$server"
