package wire

import (
	"context"
	"errors"
	"fmt"

	"github.com/tenantstream/tenantstream/commands"
	evs "github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/projections"
)

// platformProjections write under projections.PlatformTenant (the tenant
// directory, the outbox): a rebuild of one tenant does not reach their rows, so
// an erasure rebuilds them whole.
var platformProjections = map[string]bool{projections.TenantsProjection: true, projections.OutboxProjection: true}

// EraseTenant erases a tenant (commands.Service.EraseTenant: the record, then
// the data keys destroyed) and rebuilds every projection from the store, so
// the read models hold only what is left of the tenant, shown erased; progress
// is called with each projection rebuilt. What stays in local files (SQLite
// free pages and write-ahead logs, the delivered notifications) is the
// caller's to scrub. The operator's offboard route calls this.
func (p *Platform) EraseTenant(ctx context.Context, m commands.Meta, tenant string, progress func(projection string)) (commands.EraseResult, error) {
	var keys commands.KeyShredder
	if p.Sealed != nil {
		keys = p.Sealed
	}
	res, err := p.Service.EraseTenant(ctx, m, tenant, keys)
	if err != nil {
		return res, err
	}
	for _, pr := range projections.Registered() {
		name := pr.Name()
		opts := projections.RebuildOptions{Tenant: evs.TenantID(res.TenantID)}
		if platformProjections[name] {
			opts.Tenant = ""
		}
		err := p.Engine.Rebuild(ctx, name, opts)
		if errors.Is(err, projections.ErrUnknownProjection) {
			continue // this platform does not run it
		}
		if err != nil {
			return res, fmt.Errorf("erase %s: the keys are destroyed, but rebuilding %s failed (run projections rebuild): %w", res.TenantID, name, err)
		}
		if progress != nil {
			progress(name)
		}
	}
	return res, nil
}
