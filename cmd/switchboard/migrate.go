package main

import (
	"github.com/spf13/cobra"

	"github.com/switchboard-sip/switchboard/sqlstore"
)

// migrate is the one administration command that may create a database:
// a new SQLite file (readable by its owner only), or the schema in an
// existing PostgreSQL database.
func newMigrateCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Create or update the database schema",
		Long: "Creates or updates the database schema (serve also does it at every start).\n" +
			"It is the one administration command that creates a database that does not exist yet.",
		Args: cobra.NoArgs,
	}
	dsn := addDBFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := sqlstore.Migrate(cmd.Context(), *dsn); err != nil {
			return err
		}
		return printJSON(cmd.OutOrStdout(), map[string]string{"status": "migrated"})
	}
	return cmd
}
