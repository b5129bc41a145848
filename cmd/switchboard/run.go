package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
)

const (
	defaultAddr = "127.0.0.1:8080"
	defaultDB   = "sqlite:switchboard.db"
)

const usage = `Usage: switchboard <command> [flags]

Commands:
  serve                  run the API server
  migrate                create or update the database schema
  partners create        create a partner and its first API token
  partners list          list the partners
  partners set-password  set a partner's Basic password
  partners disable       disable a partner's credentials
  tokens create          create an API token for a partner
  tokens list            list API tokens (never their values)
  tokens revoke          revoke an API token
  version                print the version

Run 'switchboard <command> --help' for the flags of a command.
`

// command is one subcommand: its words and what runs it.
type command struct {
	run func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error
}

var commands = map[string]command{
	"serve": {func(ctx context.Context, a []string, g func(string) string, _, e io.Writer) error {
		return serve(ctx, a, g, e)
	}},
	"migrate":               {migrate},
	"partners create":       {createPartner},
	"partners list":         {listPartners},
	"partners set-password": {setPartnerPassword},
	"partners disable":      {disablePartner},
	"tokens create":         {createToken},
	"tokens list":           {listTokens},
	"tokens revoke":         {revokeToken},
	"version":               {printVersion},
}

// run is the whole program: args without the program name, getenv for the
// environment, and where to write.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	if len(args) > 1 {
		if c, ok := commands[args[0]+" "+args[1]]; ok {
			return c.run(ctx, args[2:], getenv, stdout, stderr)
		}
	}
	if c, ok := commands[args[0]]; ok {
		return c.run(ctx, args[1:], getenv, stdout, stderr)
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", strings.Join(args[:min(2, len(args))], " "))
}

// newFlags is a flag set for `switchboard name` that reports errors to
// stderr and returns them; --help prints what the command does and every flag.
func newFlags(name, about string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: switchboard %s [flags]\n\n%s\n\nFlags:\n", name, about)
		fs.PrintDefaults()
	}
	return fs
}

// envOr returns the environment variable's value, or def when it is unset.
func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

// envFloat reads a numeric environment variable (0 when unset or not a number;
// the flag's own parsing reports bad values given on the command line).
func envFloat(getenv func(string) string, name string) float64 {
	f, _ := strconv.ParseFloat(getenv(name), 64)
	return f
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
