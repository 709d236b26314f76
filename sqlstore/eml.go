package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"envoi"
	"envoi/spool"
)

// On SQLite the composed message of each send goes to a spool of segment
// files under DataDir/eml (package spool), and the message's row records
// where (messages.eml_at, "segment:offset"): SQLite writing such a blob
// page by page, twice with its log, was a third of the CPU of accepting a
// message. The record is written before the transaction that records the
// message commits, so a crashed process never leaves a row pointing at
// nothing. A sensitive message's bytes are sealed with the key ring in
// message_emls, never in the spool. PostgreSQL, which several instances
// share, keeps the bytes in message_emls, packed (packeml.go).

// EMLFolder is the folder of DataDir holding the spool's segments.
const EMLFolder = "eml"

// emlSpool is what the store needs of the spool (spool.Spool).
type emlSpool interface {
	// Append writes the bytes of message id and returns where they are.
	Append(id string, eml []byte) (at string, err error)
	// Read returns the bytes of message id at at, of size bytes (any when
	// 0); an error when they are missing or damaged.
	Read(id, at string, size int64) ([]byte, error)
	// Free gives the disk space of the record of id at at back.
	Free(id, at string) (int64, error)
	// Segments lists the segment files; RemoveSegment deletes one.
	Segments() ([]spool.Segment, error)
	RemoveSegment(name string) error
	Close() error
}

var _ emlSpool = (*spool.Spool)(nil)

// PutEML stores the message as sent (replacing a previous one); ENotFound
// if there is no such message.
func (s *Store) PutEML(ctx context.Context, id string, eml []byte) error {
	if eml == nil {
		eml = []byte{}
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		var at string
		if s.spool != nil {
			var err error
			if at, err = s.spool.Append(id, eml); err != nil {
				return fmt.Errorf("sqlstore: put eml of %s: %w", id, err)
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE messages SET eml_size = $1, eml_at = $2 WHERE id = $3`, int64(len(eml)), at, id)
		if err := affected(res, err, "message", id); err != nil {
			return err
		}
		if s.spool != nil {
			_, err = tx.ExecContext(ctx, `DELETE FROM message_emls WHERE message_id = $1`, id)
		} else {
			_, err = tx.ExecContext(ctx, `
				INSERT INTO message_emls (message_id, eml, created_at) VALUES ($1, $2, $3)
				ON CONFLICT (message_id) DO UPDATE SET eml = excluded.eml, created_at = excluded.created_at`,
				id, packEML(eml), s.ts(s.nowUTC()))
		}
		if err != nil {
			return fmt.Errorf("sqlstore: put eml of %s: %w", id, err)
		}
		return nil
	})
}

// EML returns the message as sent; ENotFound if it was not stored, or if
// its record in the spool is missing or damaged (saying so). A sensitive
// message's bytes are ENotFound too, as if there were no such message:
// only the worker reads them (EMLToSend).
func (s *Store) EML(ctx context.Context, id string) ([]byte, error) { return s.eml(ctx, id, false) }

// EMLToSend returns the bytes a worker sends for a message it claimed:
// EML's, and also those of a sensitive message, opened. Nothing but the
// send path calls it.
func (s *Store) EMLToSend(ctx context.Context, id string) ([]byte, error) {
	return s.eml(ctx, id, true)
}

func (s *Store) eml(ctx context.Context, id string, toSend bool) ([]byte, error) {
	if s.spool != nil {
		var at string
		var size int64
		var sensitive bool
		var pruned time.Time
		st, err := s.prepared(ctx, s.rdb, selectEMLAtSQL)
		if err == nil {
			err = st.QueryRowContext(ctx, id).Scan(&at, &size, &sensitive, scanTime(&pruned))
		}
		if errors.Is(err, sql.ErrNoRows) || (err == nil && sensitive && !toSend) {
			return nil, notFound("message", id)
		}
		if err != nil {
			return nil, fmt.Errorf("sqlstore: eml of %s: %w", id, err)
		}
		if !pruned.IsZero() {
			return nil, prunedError(id, pruned)
		}
		if at != "" {
			eml, err := s.spool.Read(id, at, size)
			if err != nil {
				return nil, envoi.Errorf(envoi.ENotFound, "the composed message %s (%d bytes) is missing or damaged: %v; it was deleted or, after the machine stopped, never reached the disk whole: send the document again", id, size, err).
					WithDetail("code", id)
			}
			return eml, nil
		}
		// In the table: sealed (sensitive), or stored by an earlier version.
	}
	var eml []byte
	var sensitive bool
	st, err := s.prepared(ctx, s.rdb, selectEMLSQL)
	if err == nil {
		err = st.QueryRowContext(ctx, id).Scan(&eml, &sensitive)
	}
	if errors.Is(err, sql.ErrNoRows) || (err == nil && sensitive && !toSend) {
		var pruned time.Time
		if perr := s.reads().QueryRowContext(ctx, selectPrunedSQL, id).Scan(scanTime(&pruned)); perr == nil && !pruned.IsZero() {
			return nil, prunedError(id, pruned)
		}
		return nil, notFound("message .eml", id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: eml of %s: %w", id, err)
	}
	if sensitive {
		if eml, err = s.ring.Open(eml, emlAAD(id)); err != nil {
			return nil, fmt.Errorf("sqlstore: open eml of %s: %w", id, err)
		}
	}
	n := len(eml)
	if eml, err = unpackEML(eml); err != nil {
		return nil, envoi.Errorf(envoi.ENotFound, "the composed message %s (%d bytes stored) is damaged: %v; send the document again", id, n, err).
			WithDetail("code", id)
	}
	return eml, nil
}

// prunedError says that the retention of bodies removed message id's bytes.
func prunedError(id string, at time.Time) error {
	return envoi.Errorf(envoi.EMessageBodyPruned, "the composed message %s was removed on %s by the retention of sent messages' bodies", id, at.UTC().Format(time.RFC3339)).
		WithDetail("pruned_at", at.UTC().Format(time.RFC3339))
}
