package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/switchboard-sip/switchboard/sqlstore"
)

const (
	defaultAddr = "127.0.0.1:8080"
	defaultDB   = "sqlite:switchboard.db"
)

// run is the whole program: args without the program name, getenv for the
// environment, and where to write. Commands are built anew for each call,
// so tests can run the program many times in one process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runConfigured(ctx, args, getenv, stdout, stderr, nil)
}

// runConfigured is run with configure, when not nil, changing serve's
// configuration after the flags (tests set in it what no flag does).
func runConfigured(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, configure func(*serveConfig)) error {
	root := newRootCommand(getenv, stdout, stderr, func(ctx context.Context, cfg serveConfig) error {
		if configure != nil {
			configure(&cfg)
		}
		return serve(ctx, cfg, stderr)
	})
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// newRootCommand is `switchboard` and every command below it (one file per
// noun: serve.go, migrate.go, partners.go, tokens.go, version.go); `serve`
// parses its configuration and hands it to runServe.
func newRootCommand(getenv func(string) string, stdout, stderr io.Writer, runServe func(context.Context, serveConfig) error) *cobra.Command {
	root := &cobra.Command{
		Use:   "switchboard",
		Short: "A server for the CarrierX Core API v2 Endpoints resource, and its administration",
		Long: "Switchboard serves the CarrierX Core API v2 Endpoints resource on SQLite or PostgreSQL.\n" +
			"Administration commands work on the same database, also while a server runs on it.",
		Version:       versionLine(),
		SilenceErrors: true, // main prints the error once
		SilenceUsage:  true, // a failing command is not a usage mistake
		// Every flag that has an environment variable takes the variable's
		// value when the flag is not given, through the flag's own parser.
		PersistentPreRunE:     func(cmd *cobra.Command, _ []string) error { return applyEnv(cmd.Flags(), getenv) },
		RunE:                  group,
		DisableFlagsInUseLine: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(flagError)
	root.AddCommand(
		newServeCommand(getenv, runServe),
		newMigrateCommand(),
		newPartnersCommand(),
		newTokensCommand(),
		newChangesCommand(),
		newKamailioCommand(),
		newVersionCommand(),
	)
	return root
}

// group is what a command that only holds others does when run itself:
// it names the commands it has, and fails, since nothing was done.
func group(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unknown command %q for %q (see '%s --help')", args[0], cmd.CommandPath(), cmd.CommandPath())
	}
	cmd.SetOut(cmd.ErrOrStderr())
	cmd.Usage()
	if !cmd.HasParent() {
		return errors.New("no command given (see 'switchboard --help')")
	}
	return fmt.Errorf("%q needs a command (see '%s --help')", cmd.CommandPath(), cmd.CommandPath())
}

// newGroup is a command that only holds subcommands.
func newGroup(use, short string, subs ...*cobra.Command) *cobra.Command {
	g := &cobra.Command{Use: use, Short: short, RunE: group, Args: cobra.ArbitraryArgs, DisableFlagsInUseLine: true}
	g.AddCommand(subs...)
	return g
}

var singleDash = regexp.MustCompile(`in -([a-z][a-z-]+)`)

// flagError points at --help, and at the two-dash form of a long flag
// given with one dash (Go's flag package took -db; the documented form,
// and the only one now, is --db).
func flagError(cmd *cobra.Command, err error) error {
	name := strings.TrimPrefix(cmd.CommandPath(), "switchboard ")
	if m := singleDash.FindStringSubmatch(err.Error()); m != nil && cmd.Flags().Lookup(m[1]) != nil {
		return fmt.Errorf("%s: %w: long flags take two dashes: --%s", name, err, m[1])
	}
	return fmt.Errorf("%s: %w (see '%s --help')", name, err, cmd.CommandPath())
}

// envAnnotation marks a flag with the environment variable it reads.
const envAnnotation = "env"

// withEnv ties the flag name to an environment variable and says so in its
// help.
func withEnv(fs *pflag.FlagSet, name, env string) {
	f := fs.Lookup(name)
	if _, ok := f.Value.(repeatable); ok {
		f.Usage += " [$" + env + ", comma-separated]"
	} else {
		f.Usage += " [$" + env + "]"
	}
	fs.SetAnnotation(name, envAnnotation, []string{env})
}

// applyEnv gives each flag not on the command line its environment
// variable's value. The flag's own parser reads it, so a variable that does
// not parse (SWITCHBOARD_RATE_LIMIT=ten) is an error, never a silent
// default. A repeatable flag reads a comma-separated list.
func applyEnv(fs *pflag.FlagSet, getenv func(string) string) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		env := f.Annotations[envAnnotation]
		if err != nil || len(env) == 0 || f.Changed {
			return
		}
		v := getenv(env[0])
		if v == "" {
			return
		}
		values := []string{v}
		if _, ok := f.Value.(repeatable); ok {
			values = splitList(v)
		}
		for _, one := range values {
			if e := f.Value.Set(one); e != nil {
				var numErr *strconv.NumError
				if errors.As(e, &numErr) {
					e = fmt.Errorf("want a %s: %w", map[string]string{"float64": "number", "int": "whole number"}[f.Value.Type()], numErr.Err)
				}
				err = fmt.Errorf("$%s=%q (for --%s): %w", env[0], v, f.Name, e)
				return
			}
		}
	})
	return err
}

// repeatable is a flag that may be given several times; its variable is a
// comma-separated list.
type repeatable interface{ repeatable() }

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// addDBFlag is --db of every command that opens the database: one
// definition, one environment variable, one default.
func addDBFlag(cmd *cobra.Command) *string {
	dsn := cmd.Flags().String("db", defaultDB, "database `DSN`: sqlite:PATH, memory (nothing on disk) or postgres://user:pass@host:port/db")
	withEnv(cmd.Flags(), "db", "SWITCHBOARD_DB")
	return dsn
}

// openExisting opens the database of an administration command: it must
// exist already (only serve and migrate create one), so that a mistyped
// path is an error rather than a new, empty database.
func openExisting(ctx context.Context, dsn string) (*sqlstore.DB, error) {
	db, err := sqlstore.Open(ctx, dsn, sqlstore.Options{MaxConns: 2, MustExist: true})
	if errors.Is(err, sqlstore.ErrNoDatabase) {
		return nil, fmt.Errorf("%w (administration commands never create a database: run 'switchboard migrate --db DSN' or start 'switchboard serve' first)", err)
	}
	return db, err
}

// newAdminCommand is an administration command without arguments, with
// --db (addDBFlag).
func newAdminCommand(use, short, long string) (*cobra.Command, *string) {
	cmd := &cobra.Command{Use: use, Short: short, Long: long, Args: cobra.NoArgs}
	return cmd, addDBFlag(cmd)
}

// onDatabase runs the work of an administration command on its database,
// which must exist already (openExisting), and closes it afterwards.
func onDatabase(cmd *cobra.Command, dsn string, work func(ctx context.Context, db *sqlstore.DB) error) error {
	db, err := openExisting(cmd.Context(), dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	return work(cmd.Context(), db)
}

// sentenceJSONFlag defines --json on a command that reports its outcome in
// one sentence (report).
func sentenceJSONFlag(cmd *cobra.Command) *bool {
	return cmd.Flags().Bool("json", false, "print one JSON object instead of a sentence")
}

// report prints a command's outcome: v as one JSON object when asJSON, else
// the sentence.
func report(cmd *cobra.Command, asJSON bool, v any, format string, args ...any) error {
	if asJSON {
		return printJSON(cmd.OutOrStdout(), v)
	}
	_, err := fmt.Fprintf(cmd.OutOrStdout(), format+"\n", args...)
	return err
}

func printJSON(w io.Writer, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", data)
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
