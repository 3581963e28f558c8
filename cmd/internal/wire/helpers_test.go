package wire

import (
	"io"

	"github.com/tenantstream/tenantstream/commands/identity"
)

// forTest makes a function's platform cheap to test: its EMF lines go to
// metrics and passwords hash with tiny argon2id parameters; more adds the
// test's own options.
func forTest(metrics io.Writer, more ...func(*Options)) func(*Options) error {
	return func(o *Options) error {
		o.Metrics.W = metrics
		var err error
		if o.Passwords, err = identity.NewHasher(identity.HashParams{MemoryKiB: 64, Time: 1, Threads: 1}); err != nil {
			return err
		}
		for _, f := range more {
			f(o)
		}
		return nil
	}
}
