package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vexen/vexen-auth/internal/cli"
	"github.com/vexen/vexen-auth/internal/safetext"
	"github.com/vexen/vexen-auth/pkg/issue"
)

// userCommand runs the account lifecycle commands (issuer user list|enable|delete|
// set-roles|set-password|reset-mfa|reset-link) on a built admin Service.
func (m *Main) userCommand(ctx context.Context, cmd, email string, roles []string, passwordStdin bool, stdin io.Reader, stdout io.Writer) error {
	svc := m.Service
	e := safetext.Escape(email)
	switch cmd {
	case "user list":
		users, err := svc.ListUsers(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "EMAIL\tID\tROLES\tSTATE\tCREATED")
		for _, u := range users {
			state := "enabled"
			if u.Disabled {
				state = "disabled"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", safetext.Escape(u.Email), safetext.Escape(u.ID),
				safetext.Escape(strings.Join(u.Roles, ",")), state, u.CreatedAt.UTC().Format(time.RFC3339))
		}
		return tw.Flush()
	case "user enable":
		if err := svc.EnableUser(ctx, email); err != nil {
			return notFound(err, email)
		}
		fmt.Fprintf(stdout, "user %s enabled\n", e)
	case "user delete":
		n, err := svc.DeleteUser(ctx, email)
		if err != nil {
			return notFound(err, email)
		}
		fmt.Fprintf(stdout, "user %s deleted; %d session(s) revoked\n", e, n)
	case "user set-roles":
		set, n, err := svc.SetRoles(ctx, email, roles)
		if errors.Is(err, issue.ErrInvalidRole) {
			return cli.Usage(err)
		}
		if err != nil {
			return notFound(err, email)
		}
		fmt.Fprintf(stdout, "roles of %s set to [%s]; %d session(s) revoked\n", e, safetext.Escape(strings.Join(set, ",")), n)
	case "user set-password":
		if !passwordStdin {
			return cli.Usage(errors.New("--password-stdin is required (passwords never go on the command line)"))
		}
		pw, err := readPassword(stdin)
		if err != nil {
			return cli.Usage(err)
		}
		n, err := svc.SetPassword(ctx, email, pw)
		if errors.Is(err, issue.ErrWeakPassword) || errors.Is(err, issue.ErrInvalidRequest) {
			return cli.Usage(err)
		}
		if err != nil {
			return notFound(err, email)
		}
		fmt.Fprintf(stdout, "password of %s set; %d session(s) revoked\n", e, n)
	case "user reset-mfa":
		f, n, err := svc.ResetMFA(ctx, email)
		if err != nil {
			return notFound(err, email)
		}
		fmt.Fprintf(stdout, "second factors of %s removed (%d); %d session(s) revoked\n", e, f, n)
	case "user reset-link":
		link, err := svc.CreateResetLink(ctx, email)
		if err != nil {
			return notFound(err, email)
		}
		// The link is the answer, alone on its line, for scripts; the note goes to
		// standard output too, before it, so that a human sees what it is.
		fmt.Fprintf(stdout, "one-time password reset link for %s, valid until %s (an earlier link stops working):\n%s\n",
			e, link.ExpiresAt.UTC().Format(time.RFC3339), link.URL)
	default:
		return cli.Usage(fmt.Errorf("unknown command %q", cmd))
	}
	return nil
}
