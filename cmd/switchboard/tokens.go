package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/credential"
	"github.com/switchboard-sip/switchboard/sqlstore"
)

func newTokensCommand() *cobra.Command {
	return newGroup("tokens", "Create, list and revoke API tokens",
		newTokensCreateCommand(), newTokensListCommand(), newTokensRevokeCommand())
}

type tokenOutput struct {
	PartnerSID string   `json:"partner_sid"`
	Scopes     []string `json:"scopes"`
	Token      string   `json:"token"`
	TokenID    string   `json:"token_id"`
}

func newTokensCreateCommand() *cobra.Command {
	cmd, dsn := newAdminCommand("create", "Create an API token for a partner",
		"Creates an API token for a partner and prints it as one JSON object (the value is shown only here).")
	partnerSID := cmd.Flags().String("partner", "", "`partner_sid` of the partner the token acts for (required)")
	scopes := cmd.Flags().String("scopes", string(sb.ScopeManage), "comma-separated `scopes` of the token (within the partner's)")
	cmd.MarkFlagRequired("partner")
	cmd.RegisterFlagCompletionFunc("scopes", completeScopes)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if *partnerSID == "" {
			return errors.New("tokens create: --partner is required")
		}
		sc, err := sb.ParseScopes(*scopes)
		if err != nil {
			return fmt.Errorf("tokens create: --scopes: %w", err)
		}
		return onDatabase(cmd, *dsn, func(ctx context.Context, db *sqlstore.DB) error {
			p, err := db.Partner(ctx, *partnerSID)
			if err != nil {
				return fmt.Errorf("tokens create: partner %s: %w", *partnerSID, err)
			}
			if !p.DisabledAt.IsZero() {
				return fmt.Errorf("tokens create: partner %s is disabled", p.PartnerSID)
			}
			if !p.Scopes.Covers(sc) {
				return fmt.Errorf("tokens create: a token cannot have scopes its partner lacks (partner has %s)", p.Scopes)
			}
			token := sb.NewSID()
			id, err := db.CreateTokenWithID(ctx, credential.HashToken(token), p.PartnerSID, sc)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), tokenOutput{PartnerSID: p.PartnerSID, Scopes: scopeStrings(sc), Token: token, TokenID: id})
		})
	}
	return cmd
}

func newTokensListCommand() *cobra.Command {
	cmd, dsn := newAdminCommand("list", "List API tokens (never their values)",
		"Lists API tokens: id, partner, scopes, when created and revoked. Token values are never stored, so never shown.")
	partner := cmd.Flags().String("partner", "", "only the tokens of this `partner_sid`")
	asJSON := cmd.Flags().Bool("json", false, "print one JSON object {\"tokens\": [...]} instead of a table")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return onDatabase(cmd, *dsn, func(ctx context.Context, db *sqlstore.DB) error {
			tokens, err := db.ListTokens(ctx, *partner)
			if err != nil {
				return err
			}
			stdout := cmd.OutOrStdout()
			if *asJSON {
				return printJSON(stdout, map[string]any{"tokens": tokens})
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TOKEN_ID\tPARTNER_SID\tSCOPES\tCREATED\tREVOKED")
			for _, t := range tokens {
				revoked := "-"
				if t.RevokedAt != nil {
					revoked = t.RevokedAt.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.TokenID, t.PartnerSID, t.Scopes, t.CreatedAt.UTC().Format(time.RFC3339), revoked)
			}
			return tw.Flush()
		})
	}
	return cmd
}

func newTokensRevokeCommand() *cobra.Command {
	cmd, dsn := newAdminCommand("revoke", "Revoke an API token",
		"Revokes an API token by its id (see tokens list); running servers stop accepting it within a second.")
	id := cmd.Flags().String("token-id", "", "`id` of the token to revoke (required)")
	asJSON := sentenceJSONFlag(cmd)
	cmd.MarkFlagRequired("token-id")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if *id == "" {
			return errors.New("tokens revoke: --token-id is required")
		}
		return onDatabase(cmd, *dsn, func(ctx context.Context, db *sqlstore.DB) error {
			if err := db.RevokeToken(ctx, *id); errors.Is(err, sb.ErrNoCredential) {
				return fmt.Errorf("tokens revoke: no unrevoked token has the id %q", *id)
			} else if err != nil {
				return err
			}
			return report(cmd, *asJSON, map[string]string{"revoked": *id}, "revoked token %s", strings.TrimSpace(*id))
		})
	}
	return cmd
}

// completeScopes completes the last scope of a comma-separated list.
func completeScopes(_ *cobra.Command, _ []string, typed string) ([]string, cobra.ShellCompDirective) {
	done := ""
	if i := strings.LastIndex(typed, ","); i >= 0 {
		done = typed[:i+1]
	}
	var out []string
	for _, s := range sb.AllScopes {
		out = append(out, done+string(s))
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}
