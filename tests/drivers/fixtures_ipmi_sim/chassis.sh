#!/bin/sh
# ipmi_sim chassis_control program: the chassis is the file $STATE_DIR/power (1 on, 0 off);
# every real change is appended to $STATE_DIR/events.  ipmi_sim runs "PROG get power" and
# "PROG set power 0|1" (and "set reset 1", which leaves the power on).
dir=$(dirname "$0")
state="$dir/power"
[ -f "$state" ] || echo 1 > "$state"
case "$1" in
get) echo "power:$(cat "$state")" ;;
set)
    if [ "$2" = power ] && [ "$(cat "$state")" != "$3" ]; then
        echo "$3" > "$state"
        echo "power $3" >> "$dir/events"
    fi ;;
esac
exit 0
