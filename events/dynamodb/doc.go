// Package dynamodb is the events.Store on Amazon DynamoDB: one item per event keyed
// T#<tenant>#S#<stream> and version, conditional transactional appends, and a
// per-tenant index for history reads.
//
// Guarantees and costs (docs/aws.md has the whole design):
//
//   - An append is one TransactWriteItems: its events, an idempotency record when the
//     request has a key, and one id record per event with SkipDuplicateIDs, at most
//     100 items and 4 MB in total (so at most 99 events with a key, 50 with
//     SkipDuplicateIDs, 49 with both). Racing appenders get events.ErrConcurrency.
//     An append that writes one item, its one event, is a conditional PutItem
//     instead (half the write units), after a read of the expected head unless
//     the Store has seen it stored: events are never deleted.
//   - Load is a strongly consistent Query of the stream's partition.
//   - ReadTenant pages the tenant-history index in (recorded_at, stream, version)
//     order. recorded_at never decreases along a stream, so each stream's events come
//     in version order. The index is eventually consistent and an append stamped at T
//     may commit after another stamped later, so cursors re-read a settle window
//     (WithSettleWindow, 5 s by default) and remember what they delivered inside it:
//     each event is delivered once as long as it becomes visible in the index within
//     the window. Cursors grow with the number of events inside the window.
//   - ReadAll walks a registry of tenants (one item per tenant, written before its
//     first append) and keeps one such cursor per tenant: every call costs one index
//     Query per tenant and the cursor grows with the number of tenants. It serves
//     rebuilds and development; the production feed is DynamoDB Streams.
//   - WithTenantClients: in a context scoped to a tenant (events.WithTenantScope)
//     every operation uses that tenant's client, whose credentials reach only keys
//     starting with T#<tenant># (docs/ARCHITECTURE.md, decision 9d); other tenants' streams and
//     ReadAll fail there with events.ErrOutOfScope before any call.
package dynamodb
