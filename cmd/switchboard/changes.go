package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/httpapi"
	"github.com/switchboard-sip/switchboard/sqlstore"
)

// The change feed's settings of serve, its pruner, and `switchboard
// changes`, the operators' feed (extensions.md §1, docs/change-feed.md).

const defaultChangesRetention = 7 * 24 * time.Hour

func addChangeFeedFlags(fs *pflag.FlagSet, cfg *serveConfig) {
	fs.IntVar(&cfg.MaxStreams, "max-streams", httpapi.DefaultMaxStreams, "`N` change feed followers (SSE streams and waiting long polls) each API credential may have at once, past which 429")
	withEnv(fs, "max-streams", "SWITCHBOARD_MAX_STREAMS")
	fs.DurationVar(&cfg.StreamKeepAlive, "stream-keep-alive", httpapi.DefaultKeepAlive, "how often an idle change stream gets a keep-alive comment (`duration`)")
	withEnv(fs, "stream-keep-alive", "SWITCHBOARD_STREAM_KEEP_ALIVE")
	fs.DurationVar(&cfg.ChangesRetention, "changes-retention", defaultChangesRetention, "how long changes are kept for the change feed (`duration`, e.g. 168h)")
	withEnv(fs, "changes-retention", "SWITCHBOARD_CHANGES_RETENTION")
}

func (c serveConfig) validateChangeFeed() []error {
	return []error{
		atLeast("--max-streams", c.MaxStreams, 1),
		moreThanZero("--stream-keep-alive", c.StreamKeepAlive),
		moreThanZero("--changes-retention", c.ChangesRetention),
	}
}

// pruneBatch is how many changes one pruning transaction deletes: small,
// so that on SQLite it holds the one writer only briefly.
const pruneBatch = 500

// startPruner prunes changes older than retention, a batch at a time:
// batch after batch while some are due, then once a second. It returns the
// function that stops it and waits until it has.
func startPruner(db *sqlstore.DB, retention time.Duration, logger *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			n, err := db.PruneChanges(ctx, time.Now().Add(-retention), pruneBatch)
			if err != nil && ctx.Err() == nil {
				logger.Warn("pruning changes", "error", err)
			}
			if n == pruneBatch && err == nil {
				continue // more are due
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() { cancel(); wg.Wait() }
}

// exitError ends the program with its own exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// exitPruned is the exit code of `changes` when the cursor's next change
// was pruned.
const exitPruned = 3

// changesPage is how many changes `changes` reads at a time.
const changesPage = 500

func newChangesCommand() *cobra.Command {
	var since string
	var follow bool
	cmd := &cobra.Command{
		Use:   "changes",
		Short: "Print every partner's endpoint changes as JSON lines (the operators' change feed)",
		Long: "Prints every partner's endpoint changes, one JSON object a line: the change as the API's\n" +
			"change feed gives it plus partner_sid and cursor. --since CURSOR starts after the line that\n" +
			"carried that cursor; without it, from the oldest change kept. When the change after the\n" +
			"cursor was pruned it exits with code 3: rebuild from a full read, then follow again.",
		Args: cobra.NoArgs,
	}
	dsn := addDBFlag(cmd)
	cmd.Flags().StringVar(&since, "since", "", "`CURSOR` to start after (from a line printed before)")
	cmd.Flags().BoolVar(&follow, "follow", false, "keep waiting for new changes until interrupted")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		db, err := openExisting(cmd.Context(), *dsn)
		if err != nil {
			return err
		}
		defer db.Close()
		return printChanges(cmd.Context(), db, since, follow, cmd.OutOrStdout())
	}
	return cmd
}

// printChanges writes the changes after cursor, and with follow the ones
// that follow, until ctx ends.
func printChanges(ctx context.Context, db *sqlstore.DB, cursor string, follow bool, stdout io.Writer) error {
	out := bufio.NewWriter(stdout)
	for {
		var wake <-chan struct{}
		if follow {
			var err error
			if wake, err = db.ChangeNotify(ctx); err != nil {
				return stopped(ctx, err)
			}
		}
		changes, err := db.OperatorChanges(ctx, cursor, changesPage)
		if errors.Is(err, sb.ErrChangesPruned) {
			out.Flush()
			return &exitError{exitPruned, errors.New("changes: the change after the cursor was pruned; rebuild from a full read of the endpoints, then follow from its cursor")}
		}
		if errors.Is(err, sqlstore.ErrBadCursor) {
			return fmt.Errorf("changes: --since %q: %w", cursor, err)
		}
		if err != nil {
			return stopped(ctx, err)
		}
		for _, c := range changes {
			if err := printJSON(out, c); err != nil {
				return err
			}
			cursor = c.Cursor
		}
		if err := out.Flush(); err != nil {
			return err
		}
		if len(changes) == changesPage {
			continue
		}
		if !follow {
			return nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return nil
		}
	}
}

// stopped is nil when err only says that ctx ended (an interrupt ends
// --follow normally).
func stopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}
