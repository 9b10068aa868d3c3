#!/usr/bin/env python3
"""summarize.py - turn bench.sh's per-run TSV into paste-ready tables.

Usage: summarize.py RESULTS.tsv SCENARIO-DESCRIPTIONS.tsv [TARGETS]

RESULTS.tsv columns (header line first):
  round scenario target clients status rc tps tx failed aborted lat_ms
  plr_cpu_s plr_us_tx pg_us_tx busy_pct note
status is ok, FAILED (pgbench aborted/errors), HANG (timeout), CRASH
(pooler died) or SKIP.  Numbers that are unknown are "-".
"""
import csv
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchfmt import fmt_f, fmt_int, med, num, span  # noqa: E402


def main():
    res_path, desc_path = sys.argv[1], sys.argv[2]
    targets = (sys.argv[3].split() if len(sys.argv) > 3
               else ["direct", "pgbouncer", "lagoon"])
    with open(res_path) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    descs = {}
    order = []
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
        print()
        print("### %s — %s (%d round%s)" % (sc, descs[sc], nrounds,
                                           "" if nrounds == 1 else "s"))
        print()
        print("| target | tps median [min–max] | pooler CPU µs/tx | "
              "PG CPU µs/tx | lat ms | failed tx | status |")
        print("|---|---|---|---|---|---|---|")
        per = {}
        for t in targets:
            tr = [r for r in srows if r["target"] == t]
            if not tr:
                continue
            per[t] = tr
            ok = [r for r in tr if r["status"] == "ok"]
            bad = [r for r in tr if r["status"] not in ("ok",)]
            tps = [num(r["tps"]) for r in tr if r["status"] != "SKIP"]
            cpu = [num(r["plr_us_tx"]) for r in tr if r["status"] == "ok"]
            pgc = [num(r["pg_us_tx"]) for r in tr if r["status"] == "ok"]
            lat = [num(r["lat_ms"]) for r in tr if r["status"] == "ok"]
            failed = sum(int(num(r["failed"]) or 0) for r in tr)
            aborted = sum(int(num(r["aborted"]) or 0) for r in tr)
            if all(r["status"] == "SKIP" for r in tr):
                st = "skipped: " + tr[0]["note"]
            elif not bad:
                st = "ok"
            else:
                kinds = {}
                for r in bad:
                    kinds[r["status"]] = kinds.get(r["status"], 0) + 1
                st = ", ".join("%s in %d/%d rounds" % (k, v, len(tr))
                               for k, v in sorted(kinds.items()))
                if aborted:
                    st += " (%d clients aborted)" % aborted
                notes = sorted({r["note"] for r in bad if r["note"] not in
                                ("", "-")})
                if notes:
                    st += ": " + notes[0][:110]
            print("| %s | %s | %s | %s | %s | %d | %s |" % (
                t, span(tps, fmt_int),
                "–" if t == "direct" else span(cpu, fmt_f),
                span(pgc, fmt_f), fmt_f(med(lat), 2), failed, st))
            per[t + ":ok"] = ok
        # paired ratios lagoon / pgbouncer
        ratio_tps = []
        rounds = sorted({r["round"] for r in srows}, key=int)
        for rd in rounds:
            a = [num(r["tps"]) for r in srows
                 if r["round"] == rd and r["target"] == "lagoon"
                 and r["status"] == "ok"]
            b = [num(r["tps"]) for r in srows
                 if r["round"] == rd and r["target"] == "pgbouncer"
                 and r["status"] == "ok"]
            if a and b and a[0] and b[0]:
                ratio_tps.append(a[0] / b[0])
        cl = med([num(r["plr_us_tx"]) for r in per.get("lagoon:ok", [])])
        cp = med([num(r["plr_us_tx"]) for r in per.get("pgbouncer:ok", [])])
        cpu_ratio = cl / cp if cl and cp else None
        rt = med(ratio_tps)
        print()
        if ratio_tps:
            print("lagoon/pgbouncer: tps paired ratio %s; CPU µs/tx %s / %s"
                  " = %s" % (span(ratio_tps, lambda x: "%.2f" % x),
                             fmt_f(cl), fmt_f(cp),
                             "%.2f" % cpu_ratio if cpu_ratio else "–"))
        elif "lagoon" in per and "pgbouncer" in per:
            print("lagoon/pgbouncer: no round where both succeeded; "
                  "lagoon CPU µs/tx %s, pgbouncer %s" % (fmt_f(cl), fmt_f(cp)))

        def tps_cell(t):
            tr = per.get(t)
            if not tr:
                return "–"
            if all(r["status"] == "SKIP" for r in tr):
                return "skip"
            m = med([num(r["tps"]) for r in tr if r["status"] != "SKIP"])
            bad = [r for r in tr if r["status"] not in ("ok", "SKIP")]
            s = fmt_int(m)
            if bad:
                s += " (%s×%d)" % (bad[0]["status"], len(bad))
            return s

        def failed_cell():
            out = []
            for t in targets:
                tr = per.get(t, [])
                out.append(str(sum(int(num(r["failed"]) or 0) +
                                   int(num(r["aborted"]) or 0) for r in tr)))
            return "/".join(out)

        summary.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            sc, " | ".join(tps_cell(t) for t in targets),
            "%.2f" % rt if rt else "–", fmt_f(cp), fmt_f(cl),
            "%.2f" % cpu_ratio if cpu_ratio else "–", failed_cell()))

    print()
    print("### Summary (median tps; ratio = median of per-round "
          "lagoon/pgbouncer)")
    print()
    print("| scenario | " + " | ".join(targets) +
          " | lagoon/pgb tps | CPU µs/tx pgb | CPU µs/tx lagoon | "
          "CPU lagoon/pgb | failed+aborted (%s) |" % "/".join(targets))
    print("|---|" + "---|" * len(targets) + "---|---|---|---|---|")
    for line in summary:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
