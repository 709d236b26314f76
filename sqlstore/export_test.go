package sqlstore

import (
	"context"
	"time"
)

// LeaseUntil returns when the lease on message id lapses (zero when none):
// the queue's bookkeeping, which no reader of a message sees.
func LeaseUntil(ctx context.Context, s *Store, id string) (time.Time, error) {
	var at time.Time
	err := s.db.QueryRowContext(ctx, `SELECT lease_until FROM messages WHERE id = $1`, id).Scan(scanTime(&at))
	return at, err
}
