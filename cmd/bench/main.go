// Command bench measures asyncgate against its baselines on one machine, in
// one run: a bare Fiber handler and raw Temporal starts for the accept path,
// raw workflows for end-to-end throughput, checkStatus under load, and a
// Temporal outage mid-load. scripts/bench builds the binary and runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type options struct {
	bin         string
	duration    int // seconds per accept load
	concurrency int
	requests    int // end-to-end requests of 40 items
	outage      int // seconds Temporal is down
	quick       bool
	out         string
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.bin, "asyncgate", "bin/asyncgate", "the asyncgate binary")
	fs.IntVar(&o.duration, "duration", 5, "seconds of each closed-loop accept load")
	fs.IntVar(&o.concurrency, "concurrency", 16, "concurrent clients of the accept loads")
	fs.IntVar(&o.requests, "requests", 200, "requests of 40 no-op items in the end-to-end phase")
	fs.IntVar(&o.outage, "outage", 10, "seconds the Temporal server is down in the outage phase")
	fs.BoolVar(&o.quick, "quick", false, "a short smoke run (2 s loads, 20 requests, 6 s outage)")
	fs.StringVar(&o.out, "out", "", "also write the report to this markdown file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.quick {
		o.duration, o.requests, o.outage = 2, 20, 6
	}
	env, err := newEnv(ctx, o)
	if err != nil {
		return err
	}
	defer env.close()
	rep, err := env.runAll(ctx)
	if err != nil {
		return err
	}
	text := rep.markdown(o, args)
	fmt.Fprint(stdout, text)
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(text), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", o.out, err)
		}
	}
	return nil
}
