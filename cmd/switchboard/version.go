package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is the release, set at build time with
// -ldflags "-X main.version=v1.2.3"; "dev" otherwise.
var version = "dev"

// revision is the commit the binary was built from, when Go recorded it.
func revision() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return ""
}

// versionLine is what `switchboard version` and `switchboard --version` print.
func versionLine() string {
	if rev := revision(); rev != "" {
		return fmt.Sprintf("switchboard %s (%s, %s)", version, runtime.Version(), rev)
	}
	return fmt.Sprintf("switchboard %s (%s)", version, runtime.Version())
}

func newVersionCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of this build",
		Long:  "Prints the version of this build (the same line as switchboard --version).",
		Args:  cobra.NoArgs,
	}
	asJSON := cmd.Flags().Bool("json", false, "print one JSON object {\"go\",\"revision\",\"version\"}")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if *asJSON {
			return printJSON(cmd.OutOrStdout(), map[string]string{"version": version, "go": runtime.Version(), "revision": revision()})
		}
		_, err := fmt.Fprintln(cmd.OutOrStdout(), versionLine())
		return err
	}
	return cmd
}
