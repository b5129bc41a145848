package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

const (
	defaultAddr = "127.0.0.1:8080"
	defaultDB   = "sqlite:switchboard.db"
)

const usage = `Usage: switchboard <command> [flags]

Commands:
  serve             run the API server
  migrate           create or update the database schema
  partners create   create a partner and its first API token
  tokens create     create an API token for a partner

Run 'switchboard <command> -h' for the flags of a command.
`

// run is the whole program: args without the program name, getenv for the
// environment, and where to write.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(ctx, rest, getenv, stderr)
	case "migrate":
		return migrate(ctx, rest, getenv, stdout, stderr)
	case "partners", "tokens":
		if len(rest) == 0 || rest[0] != "create" {
			return fmt.Errorf("unknown command %q (want '%s create')", strings.Join(args, " "), cmd)
		}
		if cmd == "partners" {
			return createPartner(ctx, rest[1:], getenv, stdout, stderr)
		}
		return createToken(ctx, rest[1:], getenv, stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// newFlags is a flag set that reports errors to stderr and returns them.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// envOr returns the environment variable's value, or def when it is unset.
func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

// parse parses flags; -h is not an error.
func parse(fs *flag.FlagSet, args []string) (help bool, err error) {
	err = fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return true, nil
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return false, err
}
