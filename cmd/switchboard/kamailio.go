package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/kamailio"
	"github.com/switchboard-sip/switchboard/sqlstore"
)

func newKamailioCommand() *cobra.Command {
	return newGroup("kamailio", "Keep a Kamailio SIP proxy in step with the endpoints (deploy/kamailio/kamailio.cfg)",
		newKamailioSyncCommand(), newKamailioCheckCommand())
}

// kamailioRPCFlags are the flags that reach Kamailio's JSON-RPC FIFO and
// name the digest realm, shared by sync and check.
type kamailioRPCFlags struct {
	fifo, replyDir, realm *string
}

func addKamailioRPCFlags(fs *pflag.FlagSet) kamailioRPCFlags {
	f := kamailioRPCFlags{
		fifo:     fs.String("rpc", "/run/kamailio/switchboard_rpc.fifo", "Kamailio's JSON-RPC `FIFO` (jsonrpcs fifo_name; kamailio.cfg SB_RPC_FIFO)"),
		replyDir: fs.String("rpc-reply-dir", "", "`directory` where reply FIFOs are created: Kamailio's jsonrpcs fifo_reply_dir (default: the directory of --rpc)"),
		realm:    fs.String("realm", "switchboard", "digest `realm` of the credentials (kamailio.cfg SB_REALM)"),
	}
	withEnv(fs, "rpc", "SWITCHBOARD_KAMAILIO_RPC")
	withEnv(fs, "realm", "SWITCHBOARD_KAMAILIO_REALM")
	return f
}

func (f kamailioRPCFlags) client() *kamailio.RPC {
	dir := *f.replyDir
	if dir == "" {
		dir = filepath.Dir(*f.fifo)
	}
	return &kamailio.RPC{FIFO: *f.fifo, ReplyDir: dir}
}

func newKamailioSyncCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Follow every partner's changes and keep Kamailio's address table and credentials in step",
		Long: `Follows the operators' change feed of the database and keeps Kamailio's data in step:

  - every address of an endpoint with auth_required=false (system gateways
    included) becomes a record of the permissions module's address table
    (--data-dir/address.list): group 1, 2 or 3 for udp, tcp or tls, the ip,
    the port, and the tag "<endpoint_sid>,<partner_sid>" ("system_gateway,-"
    for the operator's system gateways). Host names are left out (a source
    address is an IP) and reported;
  - every sip_username/sip_password of an address of an endpoint with
    auth_required=true becomes a credential (--data-dir/sb_credentials, a
    db_text table htable loads): the username, HA1 = MD5(username:realm:
    password), the endpoint and partner. A username held by several
    endpoints (or with several passwords) is left out for all of them, and
    reported.

After a change it rewrites the files that changed (atomically) and tells
Kamailio to reload them over JSON-RPC (permissions.addressReload,
htable.reload), at most once per --min-reload-interval. Kamailio serves
from its files when Switchboard or the agent is down.

The agent's state (the table and its cursor in the feed) is kept in
--state-dir: a restart resumes from the cursor without reading every
endpoint; a cursor older than the changes kept means a full read. When
Kamailio restarts (core.uptime's up_since changes, or it was unreachable),
the whole state is written and reloaded again.`,
		Args: cobra.NoArgs,
	}
	dsn := addDBFlag(cmd)
	rpc := addKamailioRPCFlags(cmd.Flags())
	dataDir := cmd.Flags().String("data-dir", "/var/lib/switchboard/kamailio", "`directory` of the files Kamailio loads (kamailio.cfg SB_ADDRESS_FILE and SB_DB_URL)")
	stateDir := cmd.Flags().String("state-dir", "/var/lib/switchboard/kamailio-agent", "`directory` of the agent's own state (its cursor in the change feed)")
	minReload := cmd.Flags().Duration("min-reload-interval", 1100*time.Millisecond, "least `time` between two reloads; longer than kamailio.cfg's SB_RELOAD_DELTA (permissions reload_delta, in seconds)")
	probe := cmd.Flags().Duration("probe-interval", 2*time.Second, "how often to ask Kamailio whether it restarted")
	memLimit := cmd.Flags().Int("memory-limit-mib", 28, "soft limit of the Go runtime's memory in `MiB` (runtime/debug.SetMemoryLimit: the garbage collector works harder near it, nothing fails; raise it by about 1 MiB per 7,000 endpoints above 100k); 0: none. GOMEMLIMIT, when set, wins")
	withEnv(cmd.Flags(), "data-dir", "SWITCHBOARD_KAMAILIO_DATA_DIR")
	withEnv(cmd.Flags(), "state-dir", "SWITCHBOARD_KAMAILIO_STATE_DIR")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if *minReload < time.Second {
			return errors.New("kamailio sync: --min-reload-interval must be at least 1s (Kamailio's reload_delta is whole seconds, and reloads closer than it can crash Kamailio)")
		}
		if *probe <= 0 {
			return errors.New("kamailio sync: --probe-interval must be positive")
		}
		if *memLimit < 0 {
			return errors.New("kamailio sync: --memory-limit-mib must be 0 or more")
		}
		// The agent keeps about 140 bytes per endpoint (14 MB for 100k) and
		// a full read makes about 900 bytes of garbage per endpoint: without
		// a limit the heap doubles what is kept before a collection, and
		// freed pages go back to the system late. The limit makes both
		// happen sooner (at 100k: VmHWM 58 MiB without, 48 MiB with 28 MiB).
		if *memLimit > 0 && os.Getenv("GOMEMLIMIT") == "" {
			debug.SetMemoryLimit(int64(*memLimit) << 20)
		}
		ctx := cmd.Context()
		db, err := openExisting(ctx, *dsn)
		if err != nil {
			return err
		}
		defer db.Close()
		agent := &kamailio.Agent{
			Feed: db, Kamailio: rpc.client(),
			DataDir: *dataDir, StateDir: *stateDir, Realm: *rpc.realm,
			MinReloadInterval: *minReload, ProbeInterval: *probe,
			RebuildOn: []error{sqlstore.ErrBadCursor},
			Log:       newLogger(cmd.ErrOrStderr()),
		}
		return agent.Run(ctx)
	}
	return cmd
}

func newKamailioCheckCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Compare what Kamailio has loaded with the database; exit 1 on drift",
		Long: `Reads every endpoint of the database, maps it as "kamailio sync" does, and
compares the result with what Kamailio has loaded (permissions.addressDump,
htable.dump over JSON-RPC). Prints one line per difference ("missing:",
"unexpected:", "different:"), then what the mapping leaves out by design
("left out:", not drift), and exits 1 when there is any difference (or
Kamailio cannot be asked). Run it when the agent has caught up: changes
committed since its last reload show as drift.`,
		Args: cobra.NoArgs,
	}
	dsn := addDBFlag(cmd)
	rpc := addKamailioRPCFlags(cmd.Flags())
	timeout := cmd.Flags().Duration("timeout", time.Minute, "how long to wait for each of Kamailio's dumps (large tables take seconds)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx := cmd.Context()
		db, err := openExisting(ctx, *dsn)
		if err != nil {
			return err
		}
		defer db.Close()
		table := kamailio.NewTable(*rpc.realm)
		if _, err := db.OperatorAdmissionSnapshot(ctx, func(e *sb.Endpoint) error {
			table.Put(e)
			return nil
		}); err != nil {
			return fmt.Errorf("kamailio check: reading the endpoints: %w", err)
		}
		want := table.State()
		client := rpc.client()
		client.Timeout = *timeout
		addrs, err := client.DumpAddresses(ctx)
		if err != nil {
			return fmt.Errorf("kamailio check: %w", err)
		}
		creds, err := client.DumpCredentials(ctx)
		if err != nil {
			return fmt.Errorf("kamailio check: %w", err)
		}
		diffs := kamailio.Diff(want, addrs, creds)
		out := cmd.OutOrStdout()
		for _, d := range diffs {
			fmt.Fprintln(out, d)
		}
		for _, p := range want.Problems {
			fmt.Fprintln(out, "left out:", p)
		}
		if len(diffs) > 0 {
			return fmt.Errorf("kamailio check: %d differences between Kamailio and the database", len(diffs))
		}
		fmt.Fprintf(out, "no drift: %d address records and %d credentials as in the database\n", len(want.Addresses), len(want.Credentials))
		return nil
	}
	return cmd
}
