package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"envoi"
	"envoi/spool"
)

// Pruned is what PruneBodies did.
type Pruned struct {
	// Messages whose composed bytes were removed.
	Messages int
	// Bytes of those messages (their eml_size).
	Bytes int64
	// Freed is the disk space given back in the spool by the holes
	// punched where the records were (0 where the file system cannot).
	Freed int64
	// Segments removed whole from the spool: nothing pointed into them.
	Segments int
}

// pruneBatch is how many messages one transaction of PruneBodies takes.
const pruneBatch = 500

// finalStatuses are the states after which a message's body is only kept
// for reading: sent (bounced comes after sent) or failed.
var finalStatuses = []string{envoi.StatusSent, envoi.StatusFailed, envoi.StatusBounced}

// PruneBodies removes the composed bytes (.eml) of the messages sent or
// failed before before: from message_emls, and on SQLite from the spool,
// whose disk space is given back (a hole punched where each record was,
// and each segment that nothing points into any more, and that no spool
// writes to, removed). The message's row, its outcome, and what was
// archived stay; the row records when (eml_pruned_at), and reading the
// .eml then answers message_body_pruned. A failed message whose body is
// gone cannot be retried.
//
// Several instances may run it at once: each message is pruned by the one
// whose update finds it not yet pruned, and only that one frees its
// record. A message retried meanwhile is no longer final and is kept.
func (s *Store) PruneBodies(ctx context.Context, before time.Time) (Pruned, error) {
	var out Pruned
	cutoff := s.ts(before)
	for {
		n, err := s.pruneBatch(ctx, cutoff, &out)
		if err != nil {
			return out, err
		}
		if n < pruneBatch {
			break
		}
	}
	if s.spool != nil {
		if err := s.removeDeadSegments(ctx, &out); err != nil {
			return out, err
		}
	}
	return out, nil
}

type prunable struct {
	id, at string
	size   int64
}

func (s *Store) pruneBatch(ctx context.Context, cutoff any, out *Pruned) (int, error) {
	var seen int
	var freed []prunable
	now := s.ts(s.nowUTC())
	err := s.tx(ctx, func(tx *sql.Tx) error {
		freed, seen = freed[:0], 0
		rows, err := tx.QueryContext(ctx, `SELECT id, eml_at, eml_size FROM messages
			WHERE eml_pruned_at IS NULL AND status IN ($1, $2, $3) AND updated_at < $4 AND created_at < $4
			ORDER BY created_at LIMIT `+fmt.Sprint(pruneBatch),
			finalStatuses[0], finalStatuses[1], finalStatuses[2], cutoff)
		if err != nil {
			return fmt.Errorf("sqlstore: prune bodies: %w", err)
		}
		var batch []prunable
		for rows.Next() {
			var p prunable
			if err := rows.Scan(&p.id, &p.at, &p.size); err != nil {
				rows.Close()
				return fmt.Errorf("sqlstore: prune bodies: %w", err)
			}
			batch = append(batch, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlstore: prune bodies: %w", err)
		}
		seen = len(batch)
		for _, p := range batch {
			res, err := tx.ExecContext(ctx, `UPDATE messages SET eml_pruned_at = $1, eml_at = ''
				WHERE id = $2 AND eml_pruned_at IS NULL AND status IN ($3, $4, $5) AND updated_at < $6`,
				now, p.id, finalStatuses[0], finalStatuses[1], finalStatuses[2], cutoff)
			if err != nil {
				return fmt.Errorf("sqlstore: prune body of %s: %w", p.id, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue // another instance took it, or it was retried
			}
			if _, err := tx.ExecContext(ctx, eraseEMLSQL, p.id); err != nil {
				return fmt.Errorf("sqlstore: prune body of %s: %w", p.id, err)
			}
			freed = append(freed, p)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, p := range freed {
		out.Messages++
		out.Bytes += p.size
		if p.at != "" && s.spool != nil {
			n, err := s.spool.Free(p.id, p.at)
			if err != nil {
				s.log.Warn("retention: freeing a spool record", "message", p.id, "at", p.at, "err", err)
			}
			out.Freed += n
		}
	}
	return seen, nil
}

// segmentQuiet is how long a segment made more than spool.RollAfter ago
// must also have gone unmodified before it is removed: a write reserved
// just before its spool rolled over lands within it.
const segmentQuiet = time.Hour

// removeDeadSegments removes the spool's segments that no message points
// into and that no spool appends to any more (made more than RollAfter
// ago, unmodified for segmentQuiet).
func (s *Store) removeDeadSegments(ctx context.Context, out *Pruned) error {
	segs, err := s.spool.Segments()
	if err != nil || len(segs) == 0 {
		return err
	}
	now := s.now()
	var old []spool.Segment
	for _, g := range segs {
		if now.Sub(g.Created) > spool.RollAfter+segmentQuiet && now.Sub(g.Modified) > segmentQuiet {
			old = append(old, g)
		}
	}
	if len(old) == 0 {
		return nil
	}
	// The segments rows point into, read after the list: a row written
	// since points into a segment too young to be in old.
	live := map[string]bool{}
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT substr(eml_at, 1, instr(eml_at, ':') - 1) FROM messages WHERE eml_at <> ''`)
	if err != nil {
		return fmt.Errorf("sqlstore: segments in use: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return fmt.Errorf("sqlstore: segments in use: %w", err)
		}
		live[name] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlstore: segments in use: %w", err)
	}
	for _, g := range old {
		if live[g.Name] || !strings.HasSuffix(g.Name, ".seg") {
			continue
		}
		if err := s.spool.RemoveSegment(g.Name); err != nil {
			s.log.Warn("retention: removing a spool segment", "segment", g.Name, "err", err)
			continue
		}
		out.Segments++
	}
	return nil
}
