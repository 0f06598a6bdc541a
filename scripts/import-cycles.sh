#!/usr/bin/env bash
# File-level import cycles in a crate: for every .rs file under SRC, the module files it
# names through `crate::…` / `super::…` paths; two files that name each other are a cycle.
# Prints each cycle and the count; exits 1 when there is one.
#
#   bash scripts/import-cycles.sh crates/recs-vae/src [crates/recs-factor/src …]
set -u
status=0
for src in "$@"; do
  edges=$(
    cd "$src" || exit 2
    file_of() { if [ "$1" = . ]; then echo ./lib.rs; elif [ -f "$1.rs" ]; then echo "$1.rs"; else echo "$1/mod.rs"; fi; }
    find . -name '*.rs' | sort | while read -r f; do
      case "$f" in ./lib.rs|*/mod.rs) self=$(dirname "$f") ;; *) self="${f%.rs}" ;; esac
      grep -vE '^\s*//' "$f" | grep -oE '\b(crate|super)(::[A-Za-z_][A-Za-z0-9_]*)+' | sort -u |
        while read -r p; do
          case "$p" in crate::*) cur=. ;; super::*) cur=$(dirname "$self") ;; esac
          rest=${p#*::}
          while [ "${rest%%::*}" = super ]; do
            cur=$(dirname "$cur")
            [ "$rest" = super ] && { rest=""; break; }
            rest=${rest#super::}
          done
          for seg in ${rest//::/ }; do
            if [ -f "$cur/$seg.rs" ] || [ -f "$cur/$seg/mod.rs" ]; then cur="$cur/$seg"; else break; fi
          done
          t=$(file_of "$cur")
          [ "$t" != "$f" ] && echo "$f $t"
        done
    done | sort -u
  )
  out=$(printf '%s\n' "$edges" | awk -v src="$src" 'NF { e[$1" "$2]=1 } END {
    n=0; for (k in e) { split(k,a," "); if ((a[2]" "a[1]) in e && a[1] < a[2]) { print src ": cycle: " a[1] " <-> " a[2]; n++ } }
    print src ": " n " import cycles (" length(e) " imports between files)" }')
  echo "$out"
  echo "$out" | grep -q ': cycle: ' && status=1
done
exit $status
