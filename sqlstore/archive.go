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

// PutArchiveBlob stores the bytes of an archived document under sha, their
// SHA-256 in lowercase hex, on PostgreSQL (archive.Blobs): once, however
// many documents point at it. Bytes already stored under sha are kept
// unless they no longer hash to sha, in which case b replaces them. On
// SQLite, where archived bytes stay in files, it fails.
func (s *Store) PutArchiveBlob(ctx context.Context, sha string, b []byte) error {
	if s.dialect != DialectPostgres {
		return envoi.Errorf(envoi.EInternal, "sqlstore: archived bytes are kept in the database on PostgreSQL only")
	}
	if b == nil {
		b = []byte{}
	}
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO archive_blobs (sha256, content, size, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (sha256) DO UPDATE SET content = excluded.content, size = excluded.size
		WHERE encode(sha256(archive_blobs.content), 'hex') <> archive_blobs.sha256`,
		sha, b, int64(len(b)), s.ts(s.nowUTC()))
	if err != nil {
		return fmt.Errorf("sqlstore: put archived bytes %s: %w", sha, err)
	}
	return nil
}

// ArchiveBlob returns the bytes stored under sha by PutArchiveBlob, as
// stored (the caller checks them); ENotFound when there are none.
func (s *Store) ArchiveBlob(ctx context.Context, sha string) ([]byte, error) {
	if s.dialect != DialectPostgres {
		return nil, envoi.Errorf(envoi.EInternal, "sqlstore: archived bytes are kept in the database on PostgreSQL only")
	}
	var b []byte
	err := s.reads().QueryRowContext(ctx, `SELECT content FROM archive_blobs WHERE sha256 = $1`, sha).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, envoi.Errorf(envoi.ENotFound, "no archived file %s", sha).WithDetail("sha256", sha)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: archived bytes %s: %w", sha, err)
	}
	return b, nil
}
