package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/credential"
	"github.com/switchboard-sip/switchboard/sqlstore"
)

func newPartnersCommand() *cobra.Command {
	return newGroup("partners", "Create, list, change and disable partners (the tenants of the API)",
		newPartnersCreateCommand(), newPartnersListCommand(), newPartnersSetPasswordCommand(), newPartnersDisableCommand())
}

// partnerOutput is what `partners create` prints, keys in alphabetical order.
type partnerOutput struct {
	Login      *string  `json:"login"`
	Name       string   `json:"name"`
	PartnerSID string   `json:"partner_sid"`
	Scopes     []string `json:"scopes"`
	Token      string   `json:"token,omitempty"`
	TokenID    string   `json:"token_id,omitempty"`
	// DisabledAt is shown by partners list for a disabled partner.
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
}

func newPartnersCreateCommand() *cobra.Command {
	cmd, dsn := newAdminCommand("create", "Create a partner and its first API token",
		"Creates a partner and its first API token, and prints them as one JSON object.")
	fs := cmd.Flags()
	name := fs.String("name", "", "the partner's `name` (required)")
	scopes := fs.String("scopes", string(sb.ScopeManage), "comma-separated `scopes` of the partner and of its first token")
	login := fs.String("login", "", "`login` for HTTP Basic authentication, without ':' (with --password)")
	password := fs.String("password", "", "`password` for HTTP Basic authentication, "+passwordRule+" (with --login)")
	cmd.MarkFlagRequired("name")
	cmd.RegisterFlagCompletionFunc("scopes", completeScopes)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if *name == "" {
			return errors.New("partners create: --name is required")
		}
		if (*login == "") != (*password == "") {
			return errors.New("partners create: --login and --password go together")
		}
		if *login != "" {
			if err := checkLoginPassword(*login, *password); err != nil {
				return fmt.Errorf("partners create: %w", err)
			}
		}
		sc, err := sb.ParseScopes(*scopes)
		if err != nil {
			return fmt.Errorf("partners create: --scopes: %w", err)
		}
		return onDatabase(cmd, *dsn, func(ctx context.Context, db *sqlstore.DB) error {
			p := sb.Partner{PartnerSID: sb.NewSID(), Name: *name, Login: *login, Scopes: sc}
			token, tokenID, err := newPartner(ctx, db, p, *password, "")
			if err != nil {
				return fmt.Errorf("partners create: %w", err)
			}
			out := partnerOutput{Name: p.Name, PartnerSID: p.PartnerSID, Scopes: scopeStrings(sc), Token: token, TokenID: tokenID}
			if p.Login != "" {
				out.Login = &p.Login
			}
			return printJSON(cmd.OutOrStdout(), out)
		})
	}
	return cmd
}

// newPartner stores a partner (hashing its password) and a first token with
// the partner's scopes; token "" means a new random one.
func newPartner(ctx context.Context, db *sqlstore.DB, p sb.Partner, password, token string) (value, id string, err error) {
	var hash string
	if password != "" {
		if hash, err = credential.HashPassword(password); err != nil {
			return "", "", err
		}
	}
	if err := db.CreatePartner(ctx, p, hash); err != nil {
		return "", "", err
	}
	if token == "" {
		token = sb.NewSID()
	}
	id, err = db.CreateTokenWithID(ctx, credential.HashToken(token), p.PartnerSID, p.Scopes)
	return token, id, err
}

func newPartnersListCommand() *cobra.Command {
	cmd, dsn := newAdminCommand("list", "List the partners",
		"Lists every partner: SID, name, login, scopes and when it was disabled.")
	asJSON := cmd.Flags().Bool("json", false, "print one JSON object {\"partners\": [...]} instead of a table")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return onDatabase(cmd, *dsn, func(ctx context.Context, db *sqlstore.DB) error {
			partners, err := db.ListPartners(ctx)
			if err != nil {
				return err
			}
			stdout := cmd.OutOrStdout()
			if *asJSON {
				out := make([]partnerOutput, len(partners))
				for i, p := range partners {
					out[i] = partnerOutput{Name: p.Name, PartnerSID: p.PartnerSID, Scopes: scopeStrings(p.Scopes)}
					if p.Login != "" {
						out[i].Login = &p.Login
					}
					if !p.DisabledAt.IsZero() {
						out[i].DisabledAt = &p.DisabledAt
					}
				}
				return printJSON(stdout, map[string]any{"partners": out})
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PARTNER_SID\tNAME\tLOGIN\tSCOPES\tDISABLED")
			for _, p := range partners {
				disabled := "-"
				if !p.DisabledAt.IsZero() {
					disabled = p.DisabledAt.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.PartnerSID, p.Name, dash(p.Login), p.Scopes, disabled)
			}
			return tw.Flush()
		})
	}
	return cmd
}

var passwordRule = fmt.Sprintf("at least %d characters and at most %d bytes", credential.MinPasswordLength, credential.MaxPasswordBytes)

// checkLoginPassword refuses Basic credentials HTTP cannot carry or that
// are too easy to guess; login "" (none given) is not checked.
func checkLoginPassword(login, password string) error {
	if login != "" {
		if err := credential.CheckLogin(login); err != nil {
			return fmt.Errorf("--login: %w", err)
		}
	}
	if err := credential.CheckPassword(password); err != nil {
		return fmt.Errorf("--password: %w", err)
	}
	return nil
}

func newPartnersSetPasswordCommand() *cobra.Command {
	cmd, dsn := newAdminCommand("set-password", "Set a partner's Basic password",
		"Sets a partner's HTTP Basic password (and login, given --login); running servers stop accepting the old password within a second.")
	fs := cmd.Flags()
	partnerSID := fs.String("partner", "", "`partner_sid` of the partner (required)")
	password := fs.String("password", "", "the new `password`, "+passwordRule+" (required)")
	login := fs.String("login", "", "new `login`, without ':' (required when the partner has none; default: keep it)")
	asJSON := sentenceJSONFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if *partnerSID == "" || *password == "" {
			return errors.New("partners set-password: --partner and --password are required")
		}
		if err := checkLoginPassword(*login, *password); err != nil {
			return fmt.Errorf("partners set-password: %w", err)
		}
		hash, err := credential.HashPassword(*password)
		if err != nil {
			return err
		}
		return onDatabase(cmd, *dsn, func(ctx context.Context, db *sqlstore.DB) error {
			p, err := db.SetPartnerPassword(ctx, *partnerSID, *login, hash)
			switch {
			case errors.Is(err, sb.ErrNoPartner):
				return fmt.Errorf("partners set-password: no partner has the SID %q", *partnerSID)
			case errors.Is(err, sb.ErrNoCredential):
				return fmt.Errorf("partners set-password: partner %s has no login; give one with --login", *partnerSID)
			case errors.Is(err, sb.ErrPartnerExists):
				return fmt.Errorf("partners set-password: another partner has the login %q", *login)
			case err != nil:
				return err
			}
			return report(cmd, *asJSON, map[string]string{"login": p.Login, "partner_sid": p.PartnerSID},
				"set the password of partner %s (login %s)", p.PartnerSID, p.Login)
		})
	}
	return cmd
}

func newPartnersDisableCommand() *cobra.Command {
	cmd, dsn := newAdminCommand("disable", "Disable a partner's credentials",
		"Disables a partner: its tokens and Basic login stop working on every running server within a second; its endpoints stay.")
	partnerSID := cmd.Flags().String("partner", "", "`partner_sid` of the partner to disable (required)")
	asJSON := sentenceJSONFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if *partnerSID == "" {
			return errors.New("partners disable: --partner is required")
		}
		return onDatabase(cmd, *dsn, func(ctx context.Context, db *sqlstore.DB) error {
			p, err := db.DisablePartner(ctx, *partnerSID)
			if errors.Is(err, sb.ErrNoPartner) {
				return fmt.Errorf("partners disable: no partner has the SID %q", *partnerSID)
			} else if err != nil {
				return err
			}
			since := p.DisabledAt.UTC().Format(time.RFC3339)
			return report(cmd, *asJSON, map[string]string{"disabled_at": since, "partner_sid": p.PartnerSID},
				"partner %s is disabled (since %s)", p.PartnerSID, since)
		})
	}
	return cmd
}

func scopeStrings(s sb.Scopes) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = string(v)
	}
	return out
}
