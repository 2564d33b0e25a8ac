#!/bin/sh
# reload.sh DIR: reloads the nginx that localstack.py started in DIR and
# returns once its old worker processes are gone, so that traffic follows the
# new upstream weights when this returns (`nginx -s reload` alone returns at
# once, while old workers may still answer). Exits 1 after 10 s.
set -eu
d=$(cd "$1" && pwd)
args="-p $d -c $d/nginx.conf -e $d/error.log"
master=$(cat "$d/nginx.pid")

# The live children of the nginx master, one per line: the kernel's own list
# when it has one (CONFIG_PROC_CHILDREN), else a scan of /proc.
children=/proc/$master/task/$master/children
workers() {
  if [ -r "$children" ]; then
    for p in $(cat "$children"); do
      { read -r line < "/proc/$p/stat"; } 2>/dev/null || continue
      rest=${line##*) }
      set -- $rest
      [ "$1" != Z ] && echo "$p"
    done
    return 0
  fi
  for f in /proc/[0-9]*/stat; do
    { read -r line < "$f"; } 2>/dev/null || continue
    rest=${line##*) }
    set -- $rest
    [ "$2" = "$master" ] && [ "$1" != Z ] && echo "${line%% *}"
  done
  return 0
}

old=$(workers)
nginx $args -t -q
nginx $args -s reload
i=0
while [ $i -lt 1000 ]; do
  now=$(workers)
  if [ -n "$now" ]; then
    overlap=0
    for p in $old; do
      case " $(echo $now) " in *" $p "*) overlap=1 ;; esac
    done
    [ $overlap -eq 0 ] && exit 0
  fi
  sleep 0.01
  i=$((i + 1))
done
echo "reload.sh: nginx did not replace its workers within 10 s" >&2
exit 1
