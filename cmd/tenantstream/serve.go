package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/handlers/httpapi"
)

func serveCmd() *cobra.Command {
	cfg := Config{}
	var webhooks string
	var corsOrigins []string
	var tenantLimits bool
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run the platform locally: API, projections, metering, billing close and notifications",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Log = slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), nil))
			if webhooks != "" {
				cfg.Webhooks = strings.Split(webhooks, ",")
				if cfg.WebhookSecret == "" {
					return usageError{errors.New("--webhook-secret is required with --webhooks")}
				}
			}
			if len(corsOrigins) > 0 {
				origins, err := httpapi.ParseCORSOrigins(corsOrigins...)
				if err != nil {
					return usageError{fmt.Errorf("--cors-origin: %w", err)}
				}
				cfg.CORSOrigins = origins
			}
			cfg.NoTenantRateLimits = !tenantLimits
			tuneGC()
			app, err := OpenApp(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer app.Close()
			ln, err := net.Listen("tcp", cfg.Addr)
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), quickstart(ln.Addr().String(), cfg, app.Clock.Now()))
			return app.Serve(cmd.Context(), ln)
		},
	}
	dataFlag(c, &cfg.DataDir)
	f := c.Flags()
	f.StringVar(&cfg.Addr, "addr", "localhost:8080", "listen address HOST:PORT")
	f.BoolVar(&cfg.TestClock, "test-clock", false, "enable POST /test-clock to simulate time (development only)")
	f.StringVar(&cfg.CatalogFile, "catalog", "", "plan catalogue file (YAML or JSON) to publish at start if it differs from the latest published one (tenants keep their plan versions); default: keep what was published, or the embedded catalogue on a new data directory")
	f.StringVar(&cfg.IssuerURL, "issuer", "", "token issuer URL (default http://ADDR)")
	f.DurationVar(&cfg.Grace, "grace", commands.DefaultGrace, "how long after a period ends it is closed")
	f.IntVar(&cfg.UsageWindowDays, "usage-window-days", commands.UsageMaxAgeDays, "how many days back reported usage may be dated (late usage of a closed period is billed on the next invoice)")
	f.StringVar(&webhooks, "webhooks", "", "comma-separated webhook URLs for notifications")
	f.StringVar(&cfg.WebhookSecret, "webhook-secret", os.Getenv("TENANTSTREAM_WEBHOOK_SECRET"), "HMAC secret for webhook signatures")
	f.StringVar(&cfg.OnboardingRate, "onboarding-rate", "", fmt.Sprintf("POST /onboarding requests allowed per client address and process, as N/DURATION such as 5/1m or 100/1h, or off (default %s)", httpapi.DefaultOnboardingRate.Spec()))
	f.IntVar(&cfg.OnboardingBurst, "onboarding-burst", 0, fmt.Sprintf("how many onboarding requests one address may send at once (0: %d, or N of --onboarding-rate)", httpapi.DefaultOnboardingRate.Burst))
	f.BoolVar(&tenantLimits, "tenant-rate-limits", true, "limit each tenant's requests at its plan's rate_limits (false: for load tests only)")
	f.StringArrayVar(&corsOrigins, "cors-origin", nil, "a browser `ORIGIN` allowed to call the API, such as https://app.example.com (repeat the flag, or separate origins with commas; exact origins only, no wildcard); default: none, and no CORS headers")
	f.IntVar(&cfg.HashMemoryMiB, "hash-memory-mib", 0, "memory argon2id password hashing may hold at once, in MiB; excess logins wait up to 2s, then get 503 (default 160, or a third of GOMEMLIMIT when lower)")
	return c
}

// quickstart is the banner serve prints; now is the server's clock, so the test
// clock example (02:00 on the first of next month, past the grace window, which
// closes this month) is always in the future.
func quickstart(addr string, cfg Config, now time.Time) string {
	base := "http://" + addr
	var b strings.Builder
	fmt.Fprintf(&b, "tenantstream is running on %s (data in %s)\n\n", base, cfg.DataDir)
	fmt.Fprintf(&b, "  curl -s -X POST %s/onboarding -H 'Content-Type: application/json' \\\n", base)
	fmt.Fprintf(&b, "    -d '{\"tenant_name\":\"acme\",\"email\":\"admin@acme.test\",\"password\":\"Sup3r-secret!\"}'\n")
	fmt.Fprintf(&b, "  curl -s -X POST %s/auth/login -H 'Content-Type: application/json' \\\n", base)
	fmt.Fprintf(&b, "    -d '{\"tenant_name\":\"acme\",\"email\":\"admin@acme.test\",\"password\":\"Sup3r-secret!\"}'\n\n")
	fmt.Fprintf(&b, "  API reference: %s/openapi.json   metrics: %s/metrics\n", base, base)
	if cfg.TestClock {
		now = now.UTC()
		next := time.Date(now.Year(), now.Month()+1, 1, 2, 0, 0, 0, time.UTC)
		fmt.Fprintf(&b, "  test clock on: POST %s/test-clock {\"now\": %q} closes %s\n", base, next.Format(time.RFC3339), now.Format("2006-01"))
	}
	b.WriteString("\n")
	return b.String()
}
