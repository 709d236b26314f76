package sqlstore

import (
	"context"
	"database/sql"
	"time"
)

// SQLite in WAL mode copies the log back into the database file at
// checkpoints, and with synchronous=NORMAL those are the only moments it
// waits for the disk (two fsyncs). Left to itself it checkpoints inside
// the commit that fills the log past 1,000 pages — about every thirty
// messages of 100 KB — holding the one write lock while it waits, so every
// acceptance and every claim queues behind the disk. The store instead
// checkpoints from a connection of its own, in PASSIVE mode, which never
// blocks the writer; the writer's automatic checkpoint stays as a bound,
// far higher, in case the background one falls behind.

const (
	// writerAutoCheckpoint is the write connection's wal_autocheckpoint,
	// in pages (of 4 KiB): about 64 MB of log.
	writerAutoCheckpoint = 16000
	// checkpointEvery is the background checkpoint's period.
	checkpointEvery = 250 * time.Millisecond
)

// startCheckpointer opens the checkpointing connection on path and runs
// PASSIVE checkpoints until the store closes.
func (s *Store) startCheckpointer(path, common string) error {
	db, err := sql.Open("sqlite", path+"?"+common)
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	s.wg.Go(func() {
		defer db.Close()
		t := time.NewTicker(checkpointEvery)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`); err != nil {
				s.log.Warn("sqlstore: background checkpoint failed", "err", err)
			}
			cancel()
		}
	})
	return nil
}
