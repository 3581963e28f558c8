package dynamodb

import "time"

// SettleWindow is how long after its recorded_at an event may still be missing
// from ReadTenant and ReadAll (WithSettleWindow; 5 s by default): the index is
// eventually consistent and appends commit out of stamp order. It implements
// projections.SettleWindower, so a rebuild waits the window out after switching
// generations and then reads again, and the events projector functions applied
// to the old generation meanwhile reach the new one.
func (s *Store) SettleWindow() time.Duration { return s.settle }
