#!/usr/bin/env python3
"""routing_summary.py - tables from routing.sh's per-run TSV.

Usage: routing_summary.py RESULTS.tsv SCENARIO-DESCRIPTIONS.tsv "ROUTERS"

RESULTS.tsv columns (header line first):
  round scenario router status rc tps tx failed aborted lat_ms
  lagoon_cpu_s lagoon_us_tx node0 node1 node2 write_tx busy_pct
  busy_before note
node0..2 are the pg_stat_database.xact_commit deltas of each node during the
run (node0 = primary); write_tx is the TPC-B-like transaction count of a
mixed run ("-" otherwise).  status is ok, FAILED, HANG or CRASH; unknown
numbers are "-".
"""
import csv
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchfmt import fmt_f, fmt_int, med, num, span  # noqa: E402

NODES = ["node0", "node1", "node2"]


def main():
    res_path, desc_path = sys.argv[1], sys.argv[2]
    routers = sys.argv[3].split() if len(sys.argv) > 3 else [
        "none", "roundrobin", "leastlag", "lsn_ryw"]
    with open(res_path) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    descs, order = {}, []
    with open(desc_path) as f:
        for line in f:
            name, desc = line.rstrip("\n").split("\t", 1)
            descs[name] = desc
            order.append(name)

    summary = []
    for sc in order:
        srows = [r for r in rows if r["scenario"] == sc]
        if not srows:
            continue
        nrounds = len({r["round"] for r in srows})
        mixed = any(num(r["write_tx"]) is not None for r in srows)
        print()
        print("### %s — %s (%d round%s)" % (sc, descs[sc], nrounds,
                                           "" if nrounds == 1 else "s"))
        print()
        print("| router | tps median [min–max] | tps vs none | lagoon CPU µs/tx "
              "median [min–max] | CPU vs none | node0 (primary) | node1 | "
              "node2 | xact seen / pgbench tx |%s failed tx | status |"
              % (" writes (TPC-B) of tx | reads by node0/node1/node2 |"
                 if mixed else ""))
        print("|---|---|---|---|---|---|---|---|---|%s---|---|"
              % ("---|---|" if mixed else ""))
        base_tps = base_cpu = None
        for rt in routers:
            tr = [r for r in srows if r["router"] == rt]
            if not tr:
                continue
            ok = [r for r in tr if r["status"] == "ok"]
            tps = [num(r["tps"]) for r in tr]
            cpu = [num(r["lagoon_us_tx"]) for r in ok]
            mt, mc = med(tps), med(cpu)
            if rt == "none":
                base_tps, base_cpu = mt, mc
            tps_ratio = mt / base_tps if mt and base_tps else None
            cpu_ratio = mc / base_cpu if mc and base_cpu else None
            # node shares over the successful runs with known deltas
            tot = {n: 0.0 for n in NODES}
            seen = ptx = wtx = 0.0
            for r in ok:
                d = [num(r[n]) for n in NODES]
                if any(x is None for x in d):
                    continue
                for n, x in zip(NODES, d):
                    tot[n] += x
                seen += sum(d)
                ptx += num(r["tx"]) or 0
                wtx += num(r["write_tx"]) or 0
            allx = sum(tot.values())
            shares = ["%.1f %%" % (100 * tot[n] / allx) if allx > 0 else "–"
                      for n in NODES]
            cover = "%.3f" % (seen / ptx) if ptx > 0 else "–"
            failed = sum(int(num(r["failed"]) or 0) for r in tr)
            aborted = sum(int(num(r["aborted"]) or 0) for r in tr)
            bad = [r for r in tr if r["status"] != "ok"]
            if not bad:
                st = "ok"
            else:
                kinds = {}
                for r in bad:
                    kinds[r["status"]] = kinds.get(r["status"], 0) + 1
                st = ", ".join("%s in %d/%d rounds" % (k, v, len(tr))
                               for k, v in sorted(kinds.items()))
                if aborted:
                    st += " (%d clients aborted)" % aborted
                notes = sorted({r["note"] for r in bad
                                if r["note"] not in ("", "-")})
                if notes:
                    st += ": " + notes[0][:110]
            wcell = ""
            if mixed:
                # reads by node: the primary's commits minus the writes and
                # minus the commits pgbench did not make (lagoon's commit-LSN
                # query after each write when a router is active)
                reads = ptx - wtx
                extra = max(0.0, seen - ptx)
                rd = [tot["node0"] - wtx - extra, tot["node1"], tot["node2"]]
                rcell = (" / ".join("%.1f" % max(0.0, 100 * x / reads)
                                    for x in rd) + " %") if reads > 0 else "–"
                wcell = " %s | %s |" % ("%.1f %%" % (100 * wtx / ptx)
                                        if ptx > 0 else "–", rcell)
            print("| %s | %s | %s | %s | %s | %s | %s | %s | %s |%s %d | %s |"
                  % (rt, span(tps, fmt_int),
                     "%.2f" % tps_ratio if tps_ratio else "–",
                     span(cpu, lambda x: fmt_f(x, 2)),
                     "%.2f" % cpu_ratio if cpu_ratio else "–",
                     shares[0], shares[1], shares[2], cover, wcell, failed,
                     st))
            summary.append((sc, rt, mt, tps_ratio, mc, cpu_ratio, shares,
                            failed + aborted))
        print()
        print("node shares are of all commits each node counted for the "
              "database during the run (over the rounds that succeeded).")
        if mixed:
            print("xact seen / pgbench tx above 1 with a router: after each "
                  "write lagoon asks the primary for its WAL insert LSN (one "
                  "more commit there); \"reads by node\" takes the writes "
                  "and those extra commits off the primary's count.")

    print()
    print("### Summary (medians; ratios to router=none in the same scenario)")
    print()
    print("| scenario | router | tps | tps/none | lagoon µs/tx | CPU/none | "
          "share node0/node1/node2 | failed+aborted |")
    print("|---|---|---|---|---|---|---|---|")
    for sc, rt, mt, tr_, mc, cr, shares, fa in summary:
        print("| %s | %s | %s | %s | %s | %s | %s | %d |" % (
            sc, rt, fmt_int(mt), "%.2f" % tr_ if tr_ else "–",
            fmt_f(mc, 2), "%.2f" % cr if cr else "–",
            " / ".join(s.replace(" %", "") for s in shares) + " %", fa))
    return 0


if __name__ == "__main__":
    sys.exit(main())
