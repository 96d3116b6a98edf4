package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/sqlstore"
	"github.com/vigil-auth/vigil/internal/token"
)

// runTenant runs "vigil tenant SUBCOMMAND".
func runTenant(ctx context.Context, args []string, e *runEnv) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, tenantUsage)
		return errors.New("tenant: missing subcommand")
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "create":
		return runTenantCreate(ctx, rest, e)
	case "list":
		return runTenantList(ctx, rest, e)
	case "rotate-secret":
		return runTenantRotateSecret(ctx, rest, e)
	case "rotate-signing-key":
		return runTenantRotateSigningKey(ctx, rest, e)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(e.stdout, tenantUsage)
		return nil
	default:
		fmt.Fprint(e.stderr, tenantUsage)
		return fmt.Errorf("tenant: unknown subcommand %q", sub)
	}
}

// tenantUsage documents the tenant subcommands.
const tenantUsage = `Usage: vigil tenant SUBCOMMAND [flags]

Subcommands:
  create --name NAME [--id ID]
        create a tenant and print its ID and both API secrets (once)
  list  list tenants with their active API keys (hints only, never secrets)
  rotate-secret --id ID --kind server|management [--overlap 24h]
        generate a new API secret and print it (once); the previous secrets
        of that kind stay valid for the overlap
  rotate-signing-key --id ID
        start signing challenge tokens with a new key; tokens signed with
        the previous key keep verifying until they expire

Every subcommand also accepts the database flags (see "vigil tenant list -h").
`

// runTenantCreate runs "vigil tenant create".
func runTenantCreate(ctx context.Context, args []string, e *runEnv) error {
	fs := e.flagSet("tenant create")
	name := fs.String("name", "", "tenant `name` (required)")
	id := fs.String("id", "", "tenant `ID` (default: a random UUID)")
	return withStore(ctx, fs, args, e, func(ctx context.Context, st *store) error {
		if strings.TrimSpace(*name) == "" {
			return errors.New("tenant create: --name is required")
		}
		if *id != "" && !tenantIDRE.MatchString(*id) {
			return fmt.Errorf("tenant create: --id %q is not a valid tenant ID (1 to 64 letters, digits, _ or -)", *id)
		}
		n, err := createTenantWithSecrets(ctx, st.tenants, e.rand, *id, strings.TrimSpace(*name))
		if err != nil {
			return fmt.Errorf("tenant create: %w", err)
		}
		return printNewTenant(e.stdout, "Tenant created.", n)
	})
}

// runTenantList runs "vigil tenant list".
func runTenantList(ctx context.Context, args []string, e *runEnv) error {
	fs := e.flagSet("tenant list")
	return withStore(ctx, fs, args, e, func(ctx context.Context, st *store) error {
		ts, err := st.tenants.FindTenants(ctx)
		if err != nil {
			return fmt.Errorf("tenant list: %w", err)
		}
		now := st.now()
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tCREATED\tSERVER KEYS\tMANAGEMENT KEYS")
		for _, t := range ts {
			keys, err := st.tenants.FindAPIKeys(ctx, t.ID)
			if err != nil {
				return fmt.Errorf("tenant list: %w", err)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.CreatedAt.UTC().Format(time.RFC3339),
				describeKeys(keys, vigil.KeyServer, now), describeKeys(keys, vigil.KeyManagement, now))
		}
		return tw.Flush()
	})
}

// describeKeys summarises the active keys of one kind: their number and
// hints, with the expiry of those being rotated out.
func describeKeys(keys []*vigil.APIKey, kind vigil.KeyKind, now time.Time) string {
	var parts []string
	for _, k := range keys {
		if k.Kind != kind || !k.Active(now) {
			continue
		}
		p := "…" + k.Hint
		if !k.ExpiresAt.IsZero() {
			p += " (until " + k.ExpiresAt.UTC().Format(time.RFC3339) + ")"
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return "0"
	}
	return fmt.Sprintf("%d: %s", len(parts), strings.Join(parts, ", "))
}

// runTenantRotateSecret runs "vigil tenant rotate-secret".
func runTenantRotateSecret(ctx context.Context, args []string, e *runEnv) error {
	fs := e.flagSet("tenant rotate-secret")
	id := fs.String("id", "", "tenant `ID` (required)")
	kind := fs.String("kind", "", "which secret: server or management (required)")
	overlap := fs.Duration("overlap", 0, "how long the previous secrets stay valid (default: VIGIL_KEY_OVERLAP, else 24h)")
	return withStore(ctx, fs, args, e, func(ctx context.Context, st *store) error {
		if !flagSet(fs, "overlap") {
			*overlap = st.cfg.KeyOverlap
		}
		var errs []error
		if *id == "" {
			errs = append(errs, errors.New("--id is required"))
		}
		k := vigil.KeyKind(*kind)
		if k != vigil.KeyServer && k != vigil.KeyManagement {
			errs = append(errs, fmt.Errorf("--kind %q must be server or management", *kind))
		}
		if *overlap < 0 {
			errs = append(errs, errors.New("--overlap must not be negative"))
		}
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("tenant rotate-secret: %w", err)
		}
		secret, err := generateSecret(e.rand, k)
		if err != nil {
			return err
		}
		key, err := newAPIKey(e.rand, *id, k, secret)
		if err != nil {
			return err
		}
		until := st.now().Add(*overlap)
		if err := st.tenants.RotateKey(ctx, key, until); err != nil {
			return fmt.Errorf("tenant rotate-secret: %w", err)
		}
		_, err = fmt.Fprintf(e.stdout, `New %s API secret for tenant %s (shown only this once: store it now):

  %s

The previous %s secrets stay valid until %s.
`, k, *id, secret, k, until.UTC().Format(time.RFC3339))
		return err
	})
}

// runTenantRotateSigningKey runs "vigil tenant rotate-signing-key".
func runTenantRotateSigningKey(ctx context.Context, args []string, e *runEnv) error {
	fs := e.flagSet("tenant rotate-signing-key")
	id := fs.String("id", "", "tenant `ID` (required)")
	return withStore(ctx, fs, args, e, func(ctx context.Context, st *store) error {
		if *id == "" {
			return errors.New("tenant rotate-signing-key: --id is required")
		}
		if _, err := st.tenants.FindTenantByID(ctx, *id); err != nil {
			return fmt.Errorf("tenant rotate-signing-key: %w", err)
		}
		issuer := token.New(sqlstore.NewSigningKeyService(st.db), token.Options{Rand: e.rand})
		kid, err := issuer.Rotate(vigil.NewContextWithTenant(ctx, *id))
		if err != nil {
			return fmt.Errorf("tenant rotate-signing-key: %w", err)
		}
		_, err = fmt.Fprintf(e.stdout, "Tenant %s now signs challenge tokens with key %s.\n", *id, kid)
		return err
	})
}

// flagSet returns an empty flag set for a subcommand that reports its
// errors to the caller instead of exiting.
func (e *runEnv) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("vigil "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
