package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"envoi"
)

// PutArchivedDocument stores the metadata of an archived document, setting
// d.ID ("arc_" + 26 random characters) and d.CreatedAt when empty. Returns
// EInvalidInput naming a missing field and EConflict for a known id.
func (s *Store) PutArchivedDocument(ctx context.Context, d *envoi.ArchivedDocument) error {
	for _, f := range []struct{ name, v string }{{"entity_type", d.EntityType}, {"entity_id", d.EntityID}, {"file_name", d.FileName}} {
		if strings.TrimSpace(f.v) == "" {
			return envoi.FieldError(envoi.EInvalidInput, f.name, "%s is required", f.name)
		}
	}
	if d.Size < 0 {
		return envoi.FieldError(envoi.EInvalidInput, "size", "the size must not be negative")
	}
	if d.ID == "" {
		d.ID = envoi.NewID("arc_")
	}
	if d.CreatedAt.IsZero() {
		d.CreatedAt = s.nowUTC()
	}
	d.CreatedAt = d.CreatedAt.UTC().Truncate(time.Microsecond)
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO archived_documents (id, entity_type, entity_id, document_flow, message_id, file_name, file_type,
			content_type, size, sha256, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		d.ID, d.EntityType, d.EntityID, d.DocumentFlow, d.MessageID, d.FileName, d.FileType, d.ContentType, d.Size, d.SHA256, s.ts(d.CreatedAt))
	if isUniqueViolation(err) {
		return envoi.FieldError(envoi.EConflict, "id", "archived document %s already exists", d.ID)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: put archived document: %w", err)
	}
	return nil
}

const archivedColumns = `id, entity_type, entity_id, document_flow, message_id, file_name, file_type, content_type, size, sha256, created_at`

func scanArchived(row interface{ Scan(...any) error }) (*envoi.ArchivedDocument, error) {
	var d envoi.ArchivedDocument
	err := row.Scan(&d.ID, &d.EntityType, &d.EntityID, &d.DocumentFlow, &d.MessageID, &d.FileName, &d.FileType, &d.ContentType, &d.Size, &d.SHA256, scanTime(&d.CreatedAt))
	return &d, err
}

// ArchivedDocument returns the archived document of that id; ENotFound if
// none.
func (s *Store) ArchivedDocument(ctx context.Context, id string) (*envoi.ArchivedDocument, error) {
	d, err := scanArchived(s.reads().QueryRowContext(ctx, `SELECT `+archivedColumns+` FROM archived_documents WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("archived document", id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: archived document %q: %w", id, err)
	}
	return d, nil
}

// ArchivedDocuments returns the documents archived for an entity, oldest
// first; an empty list when there are none.
func (s *Store) ArchivedDocuments(ctx context.Context, entityType, entityID string) ([]*envoi.ArchivedDocument, error) {
	rows, err := s.reads().QueryContext(ctx, `SELECT `+archivedColumns+` FROM archived_documents
		WHERE entity_type = $1 AND entity_id = $2 ORDER BY created_at, id`, entityType, entityID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: archived documents: %w", err)
	}
	defer rows.Close()
	out := []*envoi.ArchivedDocument{}
	for rows.Next() {
		d, err := scanArchived(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: archived documents: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
