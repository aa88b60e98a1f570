package main

import (
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

func (r *report) markdown(o options, args []string) string {
	var b strings.Builder
	cmd := "scripts/bench"
	for i := 0; i < len(args); i++ {
		if args[i] == "-asyncgate" { // set by scripts/bench itself
			i++
			continue
		}
		cmd += " " + args[i]
	}
	cpu := runtime.NumCPU()
	goVersion := runtime.Version()
	if out, err := exec.Command("uname", "-sr").Output(); err == nil {
		goVersion += ", " + strings.TrimSpace(string(out))
	}
	fmt.Fprintf(&b, "# Benchmarks\n\nProduced by `%s` on %s (%d CPUs, %s). Everything ran on one machine at once:\n", cmd,
		r.started.UTC().Format("2006-01-02 15:04 MST"), cpu, goVersion)
	b.WriteString("the load generator, PostgreSQL, the embedded Temporal server (SQLite, `asyncgate temporal`), `asyncgate api` and\n`asyncgate worker` as separate processes. Numbers vary ±20 % between runs on this 2-core box; ratios are what matter.\n\n")

	fmt.Fprintf(&b, "A single-row autocommit INSERT into PostgreSQL, one at a time (the durable commit every receipt waits for): p50 %s, p99 %s.\n\n",
		ms(r.commit.pct(50)), ms(r.commit.pct(99)))

	acceptRatio := r.accept.rate() / r.rawStart.rate()
	accept1Ratio := r.accept1.rate() / r.rawStart.rate()
	fmt.Fprintf(&b, "## Accept path (%d clients, closed loop, %d s each)\n\n", o.concurrency, o.duration)
	b.WriteString("| path | accepted/s | p50 | p99 | errors |\n|---|---:|---:|---:|---:|\n")
	for _, x := range []result{r.bare, r.rawStart, r.accept1, r.accept} {
		fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %d |\n", x.name, x.rate(), ms(x.lat.pct(50)), ms(x.lat.pct(99)), x.errors)
	}
	fmt.Fprintf(&b, "\nasyncgate submit is **%.1f×** the raw start rate with 1 item per request and **%.1f×** with 40 items (%.0f %% and %.0f %% of the bare handler).\n",
		accept1Ratio, acceptRatio, 100*r.accept1.rate()/r.bare.rate(), 100*r.accept.rate()/r.bare.rate())
	b.WriteString("The asyncgate row is the receipt path alone: an `api` process with `ASYNCGATE_DISPATCH=false` on its own database\n(validation, token check, one transaction with the request, its 40 items and the call log). With the dispatcher on, the\nworkflows follow from the table; the phases below measure that path.\n\n")

	fmt.Fprintf(&b, "## Submit-to-workflow-start lag (%.0f submissions/s of 5 items, dispatcher on)\n\n", r.lagRate)
	fmt.Fprintf(&b, "%d requests: lag from commit to `ExecuteWorkflow` returning p50 %s, p99 %s.\n\n", r.lagN, ms(r.lagP50), ms(r.lagP99))

	fmt.Fprintf(&b, "## End to end (%d requests × 40 no-op items = %d items)\n\n", r.e2eItems/40, r.e2eItems)
	b.WriteString("| path | time | items/s |\n|---|---:|---:|\n")
	fmt.Fprintf(&b, "| raw: %d workflows × 40 no-op activities (40 in flight each) | %.1f s | %.0f |\n", r.e2eItems/40, r.rawE2E.Seconds(), r.rawItems)
	fmt.Fprintf(&b, "| asyncgate: submit → dispatcher → ProcessRequest → item outcome in PostgreSQL → done | %.1f s | %.0f |\n\n", r.agE2E.Seconds(), r.agItems)
	fmt.Fprintf(&b, "asyncgate reaches **%.0f %%** of the raw activity rate. Meanwhile 4 clients polled `checkStatus` %d times: p50 %s, p99 %s;\nreceipts during this phase: p50 %s, p99 %s.\n\n",
		100*r.agItems/r.rawItems, r.status.count(), ms(r.status.pct(50)), ms(r.status.pct(99)), ms(r.e2eReceipt.pct(50)), ms(r.e2eReceipt.pct(99)))

	fmt.Fprintf(&b, "## Temporal stopped mid-load (%d submissions/s of 5 items)\n\n", r.outRate)
	b.WriteString("| window | receipts | receipts/s | p50 | p99 |\n|---|---:|---:|---:|---:|\n")
	for _, w := range []struct {
		name string
		w    window
	}{{"before", r.outBefore}, {"Temporal down (stop → restarted)", r.outDown}, {"after restart", r.outAfter}} {
		fmt.Fprintf(&b, "| %s (%.1f s) | %d | %.0f | %s | %s |\n", w.name, w.w.dur.Seconds(), w.w.ok, w.w.rate(), ms(w.w.lat.pct(50)), ms(w.w.lat.pct(99)))
	}
	fmt.Fprintf(&b, "\n%d requests accepted, %d submissions failed; every accepted request finished %.1f s after the restart, every item has an outcome.\n\n",
		r.outAccepted, r.outErrors, r.outDoneAfterRestore.Seconds())

	b.WriteString("## Targets\n\n| target | measured | |\n|---|---|---|\n")
	fmt.Fprintf(&b, "| accept rate ≥ 5× raw starts (1 item) | %.1f× | %s |\n", accept1Ratio, verdict(accept1Ratio >= 5))
	fmt.Fprintf(&b, "| accept rate ≥ 5× raw starts (40 items) | %.1f× | %s |\n", acceptRatio, verdict(acceptRatio >= 5))
	fmt.Fprintf(&b, "| p99 receipt ≤ 20 ms (1 item) | %s | %s |\n", ms(r.accept1.lat.pct(99)), verdict(r.accept1.lat.pct(99) <= 20*time.Millisecond))
	fmt.Fprintf(&b, "| p99 receipt ≤ 20 ms (40 items) | %s | %s |\n", ms(r.accept.lat.pct(99)), verdict(r.accept.lat.pct(99) <= 20*time.Millisecond))
	fmt.Fprintf(&b, "| submit-to-start lag p99 ≤ 1 s (not saturated) | %s | %s |\n", ms(r.lagP99), verdict(r.lagP99 <= time.Second))
	fmt.Fprintf(&b, "| items/s ≥ 70 %% of raw activities | %.0f %% | %s |\n", 100*r.agItems/r.rawItems, verdict(r.agItems >= 0.7*r.rawItems))
	fmt.Fprintf(&b, "| checkStatus p99 ≤ 25 ms under load | %s | %s |\n", ms(r.status.pct(99)), verdict(r.status.pct(99) <= 25*time.Millisecond))
	fmt.Fprintf(&b, "| receipts continue while Temporal is down, all complete | %d receipts while down, %d errors | %s |\n",
		r.outDown.ok, r.outErrors, verdict(r.outDown.ok > 0 && r.outErrors == 0 && r.outAllDone))
	return b.String()
}
