package stack_test

import (
	"archive/zip"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/aws/jsii-runtime-go"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/infra/stack"
	"github.com/tenantstream/tenantstream/projections"
)

func strp(s string) *string  { return jsii.String(s) }
func num(n float64) *float64 { return jsii.Number(n) }

var (
	variantOnce sync.Once
	variantRes  *synthesized
	variantErr  error
)

// variant is a second synthesis, shared by the tests that need one: a throw-away
// development stack (destroy, no deletion protection) with e-mail subscriptions
// its own plan catalogue and two CORS origins, from zips as make lambda CATALOG=plans/ours.yml
// builds them, built after a test-only projection was added to the default
// registry. Nothing in infra/ names that projection.
func variant(t *testing.T) *synthesized {
	t.Helper()
	variantOnce.Do(func() {
		projections.Register(extraProjection{})
		var dist string
		if dist, variantErr = os.MkdirTemp("", "tenantstream-dist-"); variantErr != nil {
			return
		}
		defer os.RemoveAll(dist) // synth has copied the zips into its assembly
		for _, fn := range stack.Functions {
			if variantErr = writeZip(filepath.Join(dist, fn+".zip"), "bootstrap", "catalog.yml"); variantErr != nil {
				return
			}
		}
		variantRes, variantErr = synth(map[string]any{
			"removalPolicy":      "destroy",
			"deletionProtection": "false",
			"notificationEmail":  "billing@example.com",
			"opsEmail":           "ops@example.com",
			"catalogFile":        "plans/ours.yml",
			"placeholderCode":    "false",
			"lambdaDist":         dist,
			"corsOrigins":        "https://app.example.com,http://localhost:5173",
		}, stack.Props{})
	})
	require.NoError(t, variantErr)
	return variantRes
}

// writeZip writes a zip holding the named files (with placeholder content).
func writeZip(path string, names ...string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(f)
	for _, n := range names {
		w, err := zw.Create(n)
		if err != nil {
			f.Close()
			return err
		}
		if _, err := w.Write([]byte("placeholder " + n + "\n")); err != nil {
			f.Close()
			return err
		}
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
