// Command switchboard-bench is Switchboard's load tool: it seeds endpoints
// through the API, drives scenarios with concurrent clients, and drives the
// same scenarios against a bare net/http server answering canned responses
// of the same size (this machine's HTTP ceiling), printing the ratio.
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
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "switchboard-bench:", err)
		os.Exit(1)
	}
}
