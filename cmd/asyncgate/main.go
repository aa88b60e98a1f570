// Command asyncgate is the asynchronous open-API gateway: `asyncgate dev`
// runs everything in one process; `api`, `worker` and `migrate` run the
// parts against a real Temporal cluster and PostgreSQL.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "asyncgate:", err)
		os.Exit(1)
	}
}
